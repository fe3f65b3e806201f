package shared_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"commlab/shared"
)

func TestBrokerEmbedded(t *testing.T) {
	b := startBroker(t)
	if !b.Embedded() {
		t.Error("Embedded = false for a broker started without a URL")
	}
	if !strings.HasPrefix(b.URL(), "nats://127.0.0.1:") || strings.HasSuffix(b.URL(), ":0") {
		t.Errorf("URL = %q, want nats://127.0.0.1:<the chosen port>", b.URL())
	}
	nc := connect(t, b, "test")
	if !nc.IsConnected() {
		t.Fatal("connection not connected")
	}
	if addr := nc.ConnectedAddr(); addr != "pipe" {
		t.Errorf("ConnectedAddr = %q, want \"pipe\": the lab's own connections to its embedded server are in-process", addr)
	}
	if !b.Healthy(nc) {
		t.Error("Healthy = false with a live server and connection")
	}
	if b.Healthy(nil) {
		t.Error("Healthy(nil) = true, want false")
	}
	// A round trip through the server proves it routes messages.
	sub, err := nc.SubscribeSync("probe")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("probe", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "hi" {
		t.Fatalf("round trip: got %v, %v; want \"hi\"", m, err)
	}
	nc.Close()
	if b.Healthy(nc) {
		t.Error("Healthy = true with a closed connection")
	}
}

func TestBrokerHealthyAfterClose(t *testing.T) {
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := b.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b.Close()
	if b.Healthy(nc) {
		t.Error("Healthy = true after the embedded server shut down")
	}
}

func TestBrokerCloseRemovesTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where os.MkdirTemp("", ...) creates the broker's dir
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(tmp, "commlab-nats-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("temp dirs while running = %v, %v; want exactly one", dirs, err)
	}
	nc, err := b.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	b.Close()
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("after Close, Stat(%s) = %v; want it removed", dirs[0], err)
	}
}

func TestBrokerKeepsGivenDataDir(t *testing.T) {
	dir := t.TempDir()
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("after Close, the caller's data dir: %v; want it kept", err)
	}
}

func TestBrokerBadListen(t *testing.T) {
	tests := []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:abc", "127.0.0.1:-1", "127.0.0.1:65536", ":::"}
	for _, listen := range tests {
		t.Run(listen, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			b, err := shared.StartBroker(shared.BrokerConfig{Listen: listen})
			if err == nil {
				b.Close()
				t.Fatalf("StartBroker(Listen %q) = nil error, want an error", listen)
			}
			if !strings.Contains(err.Error(), "broker:") {
				t.Errorf("error %q, want it to start with the operation %q", err, "broker:")
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "commlab-nats-*")); len(left) != 0 {
				t.Errorf("a failed start left %v behind", left)
			}
		})
	}
}

func TestBrokerExternalURL(t *testing.T) {
	server := startBroker(t)
	ext, err := shared.StartBroker(shared.BrokerConfig{URL: server.URL(), Logger: discardLog()})
	if err != nil {
		t.Fatalf("StartBroker(URL %s): %v", server.URL(), err)
	}
	if ext.Embedded() {
		t.Error("Embedded = true for an external broker")
	}
	if ext.URL() != server.URL() {
		t.Errorf("URL = %q, want %q", ext.URL(), server.URL())
	}
	nc := connect(t, ext, "test-external")
	if !ext.Healthy(nc) {
		t.Error("Healthy = false for a connected external broker")
	}

	// Messages flow through the other server.
	direct := connect(t, server, "test-direct")
	sub, err := direct.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("x", []byte("via external")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "via external" {
		t.Fatalf("got %v, %v; want \"via external\"", m, err)
	}

	ext.Close() // leaves the external server alone
	if !server.Healthy(direct) {
		t.Error("closing an external broker stopped the server it pointed at")
	}
}

func TestBrokerDeadURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "nats://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	b, err := shared.StartBroker(shared.BrokerConfig{URL: dead})
	if err == nil {
		b.Close()
		t.Fatalf("StartBroker(URL %s) = nil error, want an error", dead)
	}
	if !strings.Contains(err.Error(), dead) {
		t.Errorf("error %q, want it to name %s", err, dead)
	}
}
