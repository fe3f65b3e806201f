package bench

import (
	"context"
	"fmt"
)

// SearchResult is what the search found for one pattern.
type SearchResult struct {
	Pattern    string   `json:"pattern"`
	SLOP99Ms   float64  `json:"slo_p99_ms"`
	MaxClients int      `json:"max_clients"`              // the most clients that passed; 0: none did
	FirstFail  int      `json:"first_failing,omitempty"`  // the fewest clients that failed; 0: none did, up to the limit
	FailedWhy  string   `json:"failed_because,omitempty"` // why that round failed
	Limit      int      `json:"limit"`                    // the most clients the search would try
	Steps      []Result `json:"steps"`                    // every round it ran, in order
}

// searchLine is a search as one --json object: its best round's Result, so a
// reader finds the same fields as without --max-clients, and the search's own.
type searchLine struct {
	Result
	SLOP99Ms   float64  `json:"slo_p99_ms"`
	MaxClients int      `json:"max_clients"`
	FirstFail  int      `json:"first_failing,omitempty"`
	FailedWhy  string   `json:"failed_because,omitempty"`
	Limit      int      `json:"limit"`
	Steps      []Result `json:"steps"`
}

func (s SearchResult) line() searchLine {
	l := searchLine{SLOP99Ms: s.SLOP99Ms, MaxClients: s.MaxClients, FirstFail: s.FirstFail, FailedWhy: s.FailedWhy, Limit: s.Limit, Steps: s.Steps}
	if len(s.Steps) > 0 {
		l.Result = s.Steps[0]
	}
	for _, r := range s.Steps {
		if r.Clients == s.MaxClients {
			l.Result = r
		}
	}
	l.Result.Pattern = s.Pattern
	return l
}

// maxBisections bounds the search's second half, between the last pass and
// the first failure: each halving costs a whole round.
const maxBisections = 4

// search finds the most clients pattern serves within the SLO: it doubles the
// clients from Options.Clients until a round fails or the limit is reached,
// then halves the distance between the last pass and the first failure until
// it is within a tenth of the pass, or maxBisections rounds.
func search(ctx context.Context, o *Options, fixed *target, prog *progress, pattern, label string) (*SearchResult, []string, error) {
	s := &SearchResult{Pattern: pattern, SLOP99Ms: float64(o.Search.SLOP99.Microseconds()) / 1000, Limit: o.Search.Limit}
	var notes []string
	try := func(n int) (bool, error) {
		results, more, err := runRound(ctx, o, fixed, []string{pattern}, n, prog, fmt.Sprintf("%s, %d clients", label, n))
		notes = append(notes, more...)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		res := Result{Pattern: pattern, Clients: n}
		switch {
		case err != nil:
			res.Error = err.Error()
		case len(results) == 0:
			return false, nil // skipped: no NATS
		default:
			res = results[0]
		}
		ok, why := res.Pass(s.SLOP99Ms)
		s.Steps = append(s.Steps, res)
		if ok {
			s.MaxClients = max(s.MaxClients, n)
		} else if s.FirstFail == 0 || n < s.FirstFail {
			s.FirstFail, s.FailedWhy = n, why
		}
		return ok, nil
	}

	for n := o.Clients; ; n = min(2*n, o.Search.Limit) {
		ok, err := try(n)
		if err != nil {
			return s, notes, err
		}
		if len(s.Steps) == 0 {
			return nil, notes, nil // the pattern was skipped
		}
		if !ok || n == o.Search.Limit {
			break
		}
	}
	for range maxBisections {
		pass, fail := s.MaxClients, s.FirstFail
		if fail == 0 || fail-pass <= max(pass/10, 1) {
			break
		}
		if _, err := try((pass + fail) / 2); err != nil {
			return s, notes, err
		}
	}
	return s, notes, nil
}
