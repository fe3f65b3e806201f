package bench

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
)

// process is the server process's CPU time and resident memory at one
// moment, as its /metrics reports them. ok is false when the server has no
// /metrics, or its /metrics has no process collector.
type process struct {
	cpuSeconds float64
	rssBytes   float64
	ok         bool
}

// scrape reads the Prometheus process collector's two figures. A server that
// has no /metrics is not an error: its figures are n/a.
func (t *target) scrape(ctx context.Context) (process, error) {
	body, code, err := t.do(ctx, http.MethodGet, "/metrics")
	if err != nil {
		return process{}, err
	}
	if code != http.StatusOK {
		return process{}, nil
	}
	var p process
	var haveCPU, haveRSS bool
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text()) // name value [timestamp]
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "process_cpu_seconds_total":
			p.cpuSeconds, err = strconv.ParseFloat(fields[1], 64)
			haveCPU = err == nil
		case "process_resident_memory_bytes":
			p.rssBytes, err = strconv.ParseFloat(fields[1], 64)
			haveRSS = err == nil
		}
	}
	p.ok = haveCPU && haveRSS
	return p, nil
}
