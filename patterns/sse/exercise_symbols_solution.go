//go:build solution

package sse

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"commlab/shared"
)

// parseSymbols reads ?symbols=ACME,HOOLI into a filter: keep reports whether a
// tick of that symbol goes to this client. No symbols parameter means no
// filter (a nil keep: every tick). A list that is empty, malformed or names a
// symbol the feed does not have is an error: ServeHTTP answers it with a 400.
func parseSymbols(query url.Values) (keep func(symbol string) bool, err error) {
	lists, ok := query["symbols"]
	if !ok {
		return nil, nil // the whole feed, as before the exercise
	}
	// One list, comma-separated. A second ?symbols= would be a second way to
	// say the same thing, and a client that sends two probably meant one.
	if len(lists) > 1 {
		return nil, errors.New("sse: give symbols once, as a comma-separated list")
	}
	if lists[0] == "" {
		// ?symbols= asks for nothing. Refused rather than read as "all": a
		// client whose list came out empty by mistake would otherwise get the
		// whole feed without noticing.
		return nil, errors.New("sse: symbols must name at least one symbol")
	}
	wanted := map[string]bool{}
	for sym := range strings.SplitSeq(lists[0], ",") {
		// Exact names only, as the feed spells them: "acme" or " ACME" is an
		// error the client should hear about, not a filter that quietly
		// matches nothing and looks like a dead stream.
		if !slices.Contains(shared.DefaultSymbols, sym) {
			return nil, fmt.Errorf("sse: unknown symbol %.32q in symbols (the feed has %s)", sym, strings.Join(shared.DefaultSymbols, ","))
		}
		wanted[sym] = true
	}
	return func(symbol string) bool { return wanted[symbol] }, nil
}
