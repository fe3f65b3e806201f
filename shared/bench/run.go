package bench

import (
	"context"
	"fmt"
	"strings"
)

// Report is what a bench run found.
type Report struct {
	Machine  Machine
	Options  Options
	Notes    []string       // what the reader must know to read the figures
	Results  []Result       // the comparison: a row per pattern
	Searches []SearchResult // with Options.Search: a search per pattern
}

// Run measures the patterns as o says, and returns what it found. With
// Options.URL every round runs against that server; otherwise each round
// (each pattern, or all of them with Together) gets a fresh lab from
// Options.Start. A round that fails becomes a Result with an Error, and the
// next one runs; Run returns an error when ctx ends or the setup fails.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Machine: readMachine(), Options: o}
	prog := &progress{w: o.Progress, live: o.LiveProgress}
	defer prog.done()

	var fixed *target // the --url server, the same for every round
	if o.URL != "" {
		t, err := newTarget(o.URL, o.SrcIPs)
		if err != nil {
			return nil, err
		}
		defer t.close()
		restore, note, err := useRate(ctx, t, o.Rate)
		if err != nil {
			return nil, err
		}
		defer restore()
		rep.Notes = append(rep.Notes, note, "every pattern runs against the same server: its memory per connection may carry what earlier patterns left")
		fixed = t
	} else {
		rep.Notes = append(rep.Notes, fmt.Sprintf("each round runs against a fresh lab process (commlab serve --rate %d, with --nats-patterns=false unless it measures the queue), so its server figures are its own", o.Rate))
	}

	if o.Search != nil {
		for i, p := range o.Patterns {
			s, notes, err := search(ctx, &o, fixed, prog, p, fmt.Sprintf("[%d/%d] %s", i+1, len(o.Patterns), p))
			rep.Notes = append(rep.Notes, notes...)
			if err != nil {
				return rep, err
			}
			if s != nil {
				rep.Searches = append(rep.Searches, *s)
			}
		}
		return rep, nil
	}

	rounds := [][]string{o.Patterns}
	if !o.Together {
		rounds = nil
		for _, p := range o.Patterns {
			rounds = append(rounds, []string{p})
		}
	} else {
		rep.Notes = append(rep.Notes, "--together: all patterns ran at once on one server; its CPU and memory figures are for all of them, per delivered tick and per connection")
	}
	for i, patterns := range rounds {
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(rounds), strings.Join(patterns, "+"))
		results, notes, err := runRound(ctx, &o, fixed, patterns, o.Clients, prog, label)
		rep.Notes = append(rep.Notes, notes...)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Results = append(rep.Results, results...)
		if err != nil {
			for _, p := range patterns {
				rep.Results = append(rep.Results, Result{Pattern: p, Clients: o.Clients, Error: err.Error()})
			}
		}
	}
	return rep, nil
}

// runRound runs one round of patterns, each with n clients, against fixed or
// a fresh lab. Patterns that need NATS are left out, with a note, when the
// server's /api/info names no NATS URL.
func runRound(ctx context.Context, o *Options, fixed *target, patterns []string, n int, prog *progress, label string) (_ []Result, notes []string, err error) {
	t := fixed
	if t == nil {
		prog.phase("%s: starting a lab at %d ticks/s", label, o.Rate)
		srv, err := o.Start(ctx, o.Rate, patterns)
		if err != nil {
			return nil, nil, err
		}
		defer func() {
			if cerr := srv.Close(); cerr != nil && err == nil {
				notes = append(notes, fmt.Sprintf("%s: the lab did not stop cleanly: %v", label, cerr))
			}
		}()
		if t, err = newTarget(srv.URL, o.SrcIPs); err != nil {
			return nil, nil, err
		}
		defer t.close()
	}
	i, err := t.info(ctx)
	if err != nil {
		return nil, nil, err
	}
	var run []string
	var natsURL string
	for _, p := range patterns {
		if o.Loaders[p].NATS {
			u := i.natsURL(p)
			if u == "" {
				notes = append(notes, fmt.Sprintf("%s skipped: the server's /api/info names no NATS URL (patterns.%s.url)", p, p))
				continue
			}
			natsURL = u
		}
		run = append(run, p)
	}
	if len(run) == 0 {
		return nil, notes, nil
	}
	results, err := newRound(o, t, natsURL, run, n, prog, label).run(ctx)
	return results, notes, err
}

// useRate sets the --url server's feed rate, if it lets bench: through POST
// /api/rate, as the lab's dashboard does. restore puts back the rate it had.
func useRate(ctx context.Context, t *target, rate int) (restore func(), note string, err error) {
	before, err := t.info(ctx)
	if err != nil {
		return nil, "", err
	}
	ok, err := t.setRate(ctx, rate)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		now := "a rate /api/info does not say"
		if before.Rate != nil {
			now = fmt.Sprintf("%g ticks/s, as /api/info says", *before.Rate)
		}
		return func() {}, fmt.Sprintf("--rate %d not applied: the server has no POST /api/rate; its feed runs at %s (the rate column is measured)", rate, now), nil
	}
	restore = func() {
		if before.Rate != nil {
			_, _ = t.setRate(context.WithoutCancel(ctx), int(*before.Rate))
		}
	}
	return restore, fmt.Sprintf("the server's feed rate was set to %d ticks/s with POST /api/rate, and put back afterwards", rate), nil
}
