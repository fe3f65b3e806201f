package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExerciseCheckers keeps the coding exercises honest. Each pattern folder
// has exercise_<name>.go (the learner's stub), exercise_<name>_solution.go
// (behind the "solution" tag) and exercise_<name>_test.go (the checker, behind
// the "exercise" tag). A checker must pass on the solution, or the exercise
// cannot be done, and fail on the stub, or it checks nothing; once a learner
// has edited a stub, that half is theirs. This runs the very commands the
// READMEs give the learner.
func TestExerciseCheckers(t *testing.T) {
	if raceEnabled {
		t.Skip("the checkers run in the pass without -race; running them again under it only doubles the time")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	checkers, err := filepath.Glob("patterns/*/exercise_*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, c := range checkers {
		if d := filepath.Dir(c); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	patterns, _ := filepath.Glob("patterns/*/doc.go")
	if len(dirs) < len(patterns) {
		t.Errorf("%d pattern folders have coding exercises, want all %d: %v", len(dirs), len(patterns), dirs)
	}
	for _, dir := range dirs {
		pkg := "./" + filepath.ToSlash(dir) + "/"
		t.Run(filepath.Base(dir), func(t *testing.T) {
			solved := runCheckers(t, goCmd, pkg, "exercise,solution")
			if len(solved) == 0 {
				t.Fatalf("go test -run Exercise -tags exercise,solution %s ran no TestExercise", pkg)
			}
			for name, passed := range solved {
				if !passed {
					t.Errorf("%s fails on the reference solution", name)
				}
			}
			if edited := editedStubs(t, dir); len(edited) > 0 {
				// Your own work on the exercise: its checker's verdict is
				// yours to read, not this test's.
				t.Logf("%v: edited, so the checker is not run on the stubs here", edited)
				return
			}
			stub := runCheckers(t, goCmd, pkg, "exercise")
			for name := range solved {
				if passed, ran := stub[name]; !ran || passed {
					t.Errorf("%s does not fail on the stub (ran: %v): it checks nothing the learner must do", name, ran)
				}
			}
		})
	}
}

// editedStubs returns the stubs in dir that a learner has worked on: changed
// since the last commit, as git says, or without their TODO(exercise).
func editedStubs(t *testing.T, dir string) []string {
	stubs, _ := filepath.Glob(filepath.Join(dir, "exercise_*.go"))
	var edited []string
	for _, f := range stubs {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_solution.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// git diff --quiet exits 1 for a changed file; any other failure (no
		// git, not a clone) leaves the TODO marker to decide.
		var exit *exec.ExitError
		diff := exec.Command("git", "diff", "--quiet", "HEAD", "--", f).Run()
		changed := errors.As(diff, &exit) && exit.ExitCode() == 1
		if changed || !bytes.Contains(src, []byte("TODO(exercise)")) {
			edited = append(edited, f)
		}
	}
	return edited
}

// runCheckers runs one package's TestExercise functions with the given build
// tags and returns, per top-level test, whether it passed.
func runCheckers(t *testing.T, goCmd, pkg, tags string) map[string]bool {
	t.Helper()
	cmd := exec.Command(goCmd, "test", "-json", "-count=1", "-tags", tags, "-run", "^TestExercise", pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, failed := err.(*exec.ExitError); err != nil && !failed {
		t.Fatalf("go test %s: %v", pkg, err)
	}
	results := map[string]bool{}
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		var ev struct{ Action, Test string }
		if json.Unmarshal(lines.Bytes(), &ev) != nil || ev.Test == "" || strings.Contains(ev.Test, "/") {
			continue
		}
		switch ev.Action {
		case "pass":
			results[ev.Test] = true
		case "fail":
			results[ev.Test] = false
		}
	}
	if len(results) == 0 {
		t.Fatalf("go test -tags %s %s ran no test (did it build?):\n%s%s", tags, pkg, stderr.String(), tail(out, 2000))
	}
	return results
}

// tail returns the last n bytes of b, for an error message.
func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }
