package bench

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Result is one pattern's figures from one round: a row of the table, an
// object of --json. The field names up to requests are the contract's, which
// other tools read; the ones after are this bench's additions. The README's
// "Measuring" section lists them all.
type Result struct {
	Pattern      string  `json:"pattern"`
	Clients      int     `json:"clients"`
	DurationS    float64 `json:"duration_s"`
	Delivered    uint64  `json:"delivered"`
	Expected     uint64  `json:"expected"`
	Gaps         uint64  `json:"gaps"`
	Dups         uint64  `json:"dups"`
	MsgsPerS     float64 `json:"msgs_per_s"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	BytesPerTick float64 `json:"bytes_per_tick"`
	Requests     uint64  `json:"requests"`

	P90Ms           float64 `json:"p90_ms"`
	Connected       int     `json:"connected"` // connected when the window opened: only these count
	Failed          int     `json:"failed"`    // clients - connected
	WindowTicks     uint64  `json:"window_ticks"`
	RateTicksPerS   float64 `json:"rate"` // the feed's rate over the window, as measured
	RequestsPerTick float64 `json:"requests_per_tick"`
	Reconnects      uint64  `json:"reconnects"`
	// Server figures, null when the server has no /metrics. With several
	// patterns in one round (--together) they are the round's, shared.
	ServerCPUUsPerTick  *float64 `json:"server_cpu_us_per_tick"`
	ServerMemPerConnKiB *float64 `json:"server_mem_per_conn_kib"`
	// ServerIdleCPUPct is the server's CPU use before any client connected,
	// in percent of one core: the baseline that ServerCPUUsPerTick includes.
	ServerIdleCPUPct *float64 `json:"server_idle_cpu_pct"`
	Note             string   `json:"note,omitempty"`
	Error            string   `json:"error,omitempty"`
}

// Pass reports whether the round met an SLO: every client connected, every
// tick delivered, none twice, and p99 within slo.
func (r Result) Pass(sloMs float64) (bool, string) {
	switch {
	case r.Error != "":
		return false, r.Error
	case r.Failed > 0:
		return false, fmt.Sprintf("%d of %d clients failed to connect", r.Failed, r.Clients)
	case r.Gaps > 0:
		return false, fmt.Sprintf("%d gaps", r.Gaps)
	case r.Dups > 0:
		return false, fmt.Sprintf("%d dups", r.Dups)
	case r.P99Ms > sloMs:
		return false, fmt.Sprintf("p99 %.1f ms > %.0f ms", r.P99Ms, sloMs)
	}
	return true, fmt.Sprintf("p99 %.1f ms", r.P99Ms)
}

// results turns what the round saw into one Result per pattern.
func (r *round) results(m measured, ends map[*client]counts) []Result {
	window := m.to - m.from
	secs := m.elapsed.Seconds()
	var out []Result
	var delivered uint64
	connected := 0
	for _, g := range r.groups {
		res := Result{Pattern: g.pattern, Clients: len(g.clients), DurationS: round3(secs), WindowTicks: window, RateTicksPerS: round3(float64(window) / secs)}
		var during counts // from the window's opening to the drain's end
		var notes []string
		for _, c := range g.clients {
			if c.counted {
				res.Connected++
			}
			// A fan-out pattern's figures are its counted clients'; the
			// queue's, all its workers', which share the ticks.
			if !c.counted && g.load.FanOut {
				continue
			}
			during.add(ends[c].minus(c.atOpen))
			got, dups := c.inWindow(m.from, m.to)
			res.Delivered += got
			res.Dups += dups
		}
		res.Failed = res.Clients - res.Connected
		res.Dups += during.dups
		if g.load.FanOut {
			res.Expected = window * uint64(res.Connected)
		} else {
			res.Expected = window
			distinct := popcount(g.union(m.from, m.to))
			res.Dups += res.Delivered - distinct // a seq two workers got
			res.Delivered = distinct
			notes = append(notes, fmt.Sprintf("%d workers in queue group %q: expected = window ticks, each once across the group", len(g.clients), g.load.Group))
		}
		if res.Delivered < res.Expected {
			res.Gaps = res.Expected - res.Delivered
		}
		res.MsgsPerS = round3(float64(res.Delivered) / secs)
		lat := summarize(g.lat.merged())
		res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = lat.p50, lat.p90, lat.p99, lat.maxv
		res.Requests, res.Reconnects = during.requests, during.reconnects
		if during.received > 0 {
			res.BytesPerTick = round3(float64(during.bytes) / float64(during.received))
			res.RequestsPerTick = round6(float64(during.requests) / float64(during.received))
		}
		if e := firstError(g.clients); e != "" {
			notes = append(notes, e)
		} else if res.Failed > 0 {
			// Its clients are still retrying: a server without this pattern's
			// endpoint, or one that refused that many connections.
			notes = append(notes, fmt.Sprintf("%d of %d clients were not connected when the window opened; each keeps retrying: does the server serve this pattern?", res.Failed, res.Clients))
		}
		if !m.drained {
			notes = append(notes, fmt.Sprintf("the drain ended after %s with ticks still missing", r.o.Drain))
		}
		// One tick more or less is the window's rounding, not a slow feed.
		if r.o.URL == "" && float64(window+1)/secs < 0.95*float64(r.o.Rate) {
			// The lab's feed is one goroutine among the busy ones: when the
			// machine is short of CPU, it falls behind its clock.
			notes = append(notes, fmt.Sprintf("the feed held %.0f ticks/s of --rate %d: the machine was short of CPU, and the latencies include the queues that built up", res.RateTicksPerS, r.o.Rate))
		}
		res.Note = strings.Join(notes, "; ")
		delivered += res.Delivered
		connected += res.Connected
		out = append(out, res)
	}

	// The server's figures are the round's: one process served every pattern.
	cpu, idle, mem := serverFigures(m, delivered, connected)
	for i := range out {
		out[i].ServerCPUUsPerTick, out[i].ServerIdleCPUPct, out[i].ServerMemPerConnKiB = cpu, idle, mem
	}
	return out
}

// serverFigures are the server's CPU per delivered tick, its idle CPU, and
// its memory per connection; nil when its /metrics does not say.
func serverFigures(m measured, delivered uint64, connected int) (cpu, idle, mem *float64) {
	if !m.idleFrom.ok || !m.idle.ok || !m.open.ok || !m.closed.ok {
		return nil, nil, nil
	}
	v := round3((m.idle.cpuSeconds - m.idleFrom.cpuSeconds) / m.idleFor.Seconds() * 100)
	idle = &v
	// The kernel counts a process's CPU time in 10 ms steps: over a short
	// window (a few seconds, a few hundred deliveries) the figure is coarse.
	if delivered > 0 {
		v := round3((m.closed.cpuSeconds - m.open.cpuSeconds) * 1e6 / float64(delivered))
		cpu = &v
	}
	if connected > 0 {
		v := round3((m.open.rssBytes - m.idle.rssBytes) / 1024 / float64(connected))
		mem = &v
	}
	return cpu, idle, mem
}

// union is the set of the window's seqs any of the group's clients received,
// a bit per seq.
func (g *group) union(from, to uint64) []uint64 {
	set := make([]uint64, (to-from+63)/64)
	for _, c := range g.clients {
		c.mu.Lock()
		c.seen.union(set, from, to)
		c.mu.Unlock()
	}
	return set
}

func popcount(set []uint64) uint64 {
	var n int
	for _, w := range set {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// firstError says how many clients gave up, and why the first one did.
func firstError(clients []*client) string {
	n, first := 0, ""
	for _, c := range clients {
		if c.gaveUp.Load() {
			if n == 0 {
				first = fmt.Sprint(c.err)
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d clients gave up, the first: %s", n, first)
}

func round3(v float64) float64 { return math.Round(v*1e3) / 1e3 }
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
