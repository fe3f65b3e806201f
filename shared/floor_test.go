package shared_test

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// The floor under every push pattern: whatever a server does per delivered
// tick, it makes at least one write to the client's socket, unless it finds
// several ticks queued for that client and writes them together. These two
// benchmarks measure what that costs on the machine at hand, so the per-tick
// figures of `commlab bench` can be read against it:
//
//	go test -run x -bench Floor ./shared/
//
// BenchmarkFloorSyscall is a system call that does nothing; BenchmarkFloorWrite
// a 73-byte frame, a tick as a WebSocket server sends it, written to a loopback
// TCP connection whose reader is asleep (so the figure is the write's alone,
// not the wake-up of a reader too).

func BenchmarkFloorSyscall(b *testing.B) {
	for b.Loop() {
		syscall.Getppid()
	}
}

func BenchmarkFloorWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	// A connection takes this many frames before it is replaced by a fresh
	// one: well within the socket buffers, so no write ever waits for room.
	const framesPerConn = 400
	frame := make([]byte, 73)
	var client, server net.Conn
	replace := func() {
		if client != nil {
			client.Close()
			server.Close()
		}
		if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		if server, err = ln.Accept(); err != nil {
			b.Fatal(err)
		}
	}
	replace()
	defer func() { client.Close(); server.Close() }()

	cpu := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		if i%framesPerConn == framesPerConn-1 {
			b.StopTimer()
			cpu -= cpuTime()
			replace()
			cpu += cpuTime()
			b.StartTimer()
		}
		if _, err := server.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/write")
}

// cpuTime returns the CPU time, user and system, this process has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
