package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteHeader writes what the figures were measured on and how.
func (rep *Report) WriteHeader(w io.Writer) {
	o := rep.Options
	server := o.URL
	if server == "" {
		server = "a fresh lab process per round"
	}
	fmt.Fprintf(w, "commlab bench: %d clients per pattern, feed %d ticks/s, window %s after %s warmup, drain at most %s\n",
		o.Clients, o.Rate, o.Duration, o.Warmup, o.Drain)
	fmt.Fprintf(w, "  machine  %s\n", rep.Machine)
	fmt.Fprintf(w, "  server   %s\n", server)
	fmt.Fprintf(w, "  clients  poll every %s; long polls held up to %s; %d source address(es)\n", o.PollInterval, o.LongPollWait, o.SrcIPs)
}

// WriteTable writes the comparison (or the searches) as a table, then the
// notes that say how to read it.
func (rep *Report) WriteTable(w io.Writer) error {
	rep.WriteHeader(w)
	fmt.Fprintln(w)
	if rep.Options.Search != nil {
		if err := writeSearches(w, rep.Searches); err != nil {
			return err
		}
	} else if err := writeResults(w, rep.Results); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "feed/s: the feed's rate over the window, as measured (below --rate: the server could not keep up, or, with --url, its feed has a rate of its own)")
	fmt.Fprintln(w, "gaps: ticks that never reached a client that was connected when the window opened (expected - delivered)")
	fmt.Fprintln(w, "latency: receive time - t_us, over the window's ticks")
	fmt.Fprintln(w, "requests: HTTP requests from the window's start to the drain's end (a stream's connect came before); B/tick, req/tick: bytes read (headers, framing included) and requests, per tick received")
	fmt.Fprintln(w, "reconn: clients' reconnects in that time (a server cuts off a client that falls behind; it resumes after its last seq)")
	fmt.Fprintln(w, "srv us/tick: server CPU time per delivered tick (one tick to one client), over the window, its idle baseline included")
	fmt.Fprintln(w, "srv idle %: the server's CPU use, in % of one core, for a second before any client connected; srv KiB/conn: server RSS growth per connected client")
	for _, r := range append(rep.Results, searchSteps(rep.Searches)...) {
		if r.Note != "" {
			fmt.Fprintf(w, "note: %s (%d clients): %s\n", r.Pattern, r.Clients, r.Note)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "error: %s (%d clients): %s\n", r.Pattern, r.Clients, r.Error)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

var columns = "pattern \tclients\tconn\tfail\tfeed/s\tdelivered\texpected\tgaps\tdups\tmsgs/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tB/tick\trequests\treq/tick\treconn\tsrv us/tick\tsrv idle %\tsrv KiB/conn\t"

func writeResults(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, columns)
	for _, r := range results {
		writeRow(tw, r)
	}
	return tw.Flush()
}

func writeRow(tw io.Writer, r Result) {
	if r.Error != "" {
		fmt.Fprintf(tw, "%-8s\t%d\tfailed: see below\t\n", r.Pattern, r.Clients)
		return
	}
	fmt.Fprintf(tw, "%-8s\t%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%d\t%.3f\t%d\t%s\t%s\t%s\t\n",
		r.Pattern, r.Clients, r.Connected, r.Failed, r.RateTicksPerS, r.Delivered, r.Expected, r.Gaps, r.Dups, r.MsgsPerS,
		r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.BytesPerTick, r.Requests, r.RequestsPerTick, r.Reconnects,
		optional(r.ServerCPUUsPerTick, 2), optional(r.ServerIdleCPUPct, 1), optional(r.ServerMemPerConnKiB, 1))
}

func writeSearches(w io.Writer, searches []SearchResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, columns)
	for _, s := range searches {
		for _, r := range s.Steps {
			writeRow(tw, r)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, s := range searches {
		verdict := fmt.Sprintf("%s: at most %d clients with p99 <= %g ms, no gap, no failure", s.Pattern, s.MaxClients, s.SLOP99Ms)
		switch {
		case s.FirstFail > 0:
			verdict += fmt.Sprintf("; %d clients failed: %s", s.FirstFail, s.FailedWhy)
		default:
			verdict += fmt.Sprintf(" (the search's limit, %d, passed)", s.Limit)
		}
		fmt.Fprintln(w, verdict)
	}
	return nil
}

func searchSteps(searches []SearchResult) []Result {
	var all []Result
	for _, s := range searches {
		all = append(all, s.Steps...)
	}
	return all
}

func optional(v *float64, decimals int) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v, 'f', decimals, 64)
}

// WriteJSON writes one JSON object per pattern, per line. A search's object is
// its best round (the most clients that passed, or else its first round),
// with the contract's fields, plus what the search found and every round it ran.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	if rep.Options.Search != nil {
		for _, s := range rep.Searches {
			if err := enc.Encode(s.line()); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range rep.Results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
