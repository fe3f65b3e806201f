package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine is where the bench ran: the figures mean little without it.
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	Go    string `json:"go"`
	OS    string `json:"os"`
	// Load is /proc/loadavg's 1-minute figure when the run began: other
	// processes' load shares the cores with the server and the clients.
	Load string `json:"load"`
}

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores, %s %s", m.CPU, m.Cores, m.Go, m.OS)
	if m.Load != "" {
		s += ", load average " + m.Load + " at the start"
	}
	return s
}

func readMachine() Machine {
	return Machine{CPU: cpuModel(), Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Load: loadAverage()}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b) + " ")[0]
}

// cpuModel is the first "model name" of /proc/cpuinfo (Linux), or the
// architecture where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown " + runtime.GOARCH + " CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown " + runtime.GOARCH + " CPU"
}
