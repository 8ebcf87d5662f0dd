package framework

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
)

// digestLen bounds each failure's message in the digest.
const digestLen = 600

// RunSuite runs the package's specs. When one fails it ends the run with
// a short digest of why each failed, after Ginkgo's own summary, which
// names only where: CI keeps only the tail of a long run's output, and
// the messages are pages above it.
func RunSuite(t *testing.T, name string) {
	t.Helper()
	RegisterFailHandler(Fail)
	var failures []string
	ReportAfterSuite(name+" digest", func(r Report) {
		failures = failureDigest(r)
	})
	if !RunSpecs(t, name) {
		for _, f := range failures {
			fmt.Println(f)
		}
	}
}

// failureDigest is one line per failed spec or suite node: what failed,
// and the first digestLen characters of its message, on one line.
func failureDigest(r Report) []string {
	var out []string
	for _, s := range r.SpecReports {
		if !s.State.Is(types.SpecStateFailureStates) {
			continue
		}
		msg := strings.Join(strings.Fields(s.Failure.Message), " ")
		if len(msg) > digestLen {
			msg = msg[:digestLen] + "…"
		}
		what := s.FullText()
		if what == "" {
			what = s.LeafNodeType.String()
		}
		out = append(out, fmt.Sprintf("FAILED %s (%s): %s", what, s.Failure.Location, msg))
	}
	return out
}
