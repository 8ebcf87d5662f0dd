package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vfleet/vfleet/placement/framework"
)

// Unschedulable says why no host fits, as counts of the first reason each
// host was ruled out for.
type Unschedulable struct {
	Hosts   int
	Reasons map[string]int
	// ByFilter counts the same by the name of the filter that ruled each
	// host out ("Excluded" and "Region" for the hosts the request or its
	// regions ruled out): a bounded set, for metrics, where a reason may
	// carry figures.
	ByFilter map[string]int
}

// Filters that are not plugins, in Unschedulable.ByFilter.
const (
	FilterExcluded = "Excluded"
	FilterRegion   = "Region"
)

// Error reads like "0/12 hosts fit: 7 insufficient memory, 3 region not
// allowed, 2 unreachable", most common reason first.
func (u *Unschedulable) Error() string {
	if u.Hosts == 0 {
		return "0/0 hosts fit: the fleet has no hosts yet"
	}
	type count struct {
		reason string
		n      int
	}
	counts := make([]count, 0, len(u.Reasons))
	for r, n := range u.Reasons {
		counts = append(counts, count{r, n})
	}
	slices.SortFunc(counts, func(a, b count) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%d %s", c.n, c.reason)
	}
	return fmt.Sprintf("0/%d hosts fit: %s", u.Hosts, strings.Join(parts, ", "))
}

// explain runs the filters again, counting why each host failed. It runs
// only when nothing fits, so decisions that succeed pay nothing for it.
func (e *Engine) explain(req *framework.Request) *Unschedulable {
	u := &Unschedulable{Hosts: len(e.all), Reasons: map[string]int{}, ByFilter: map[string]int{}}
	seen := 0
	for _, hosts := range e.candidates(req) {
	host:
		for _, h := range hosts {
			seen++
			if req.Exclude[h.Name] {
				u.Reasons["excluded"]++
				u.ByFilter[FilterExcluded]++
				continue
			}
			for _, f := range e.filters {
				if ok, reason := f.Filter(req, h, e); !ok {
					u.Reasons[reason]++
					u.ByFilter[f.Name()]++
					continue host
				}
			}
		}
	}
	// Hosts the region index never offered were ruled out by region.
	if other := len(e.all) - seen; other > 0 {
		u.Reasons["region not allowed"] += other
		u.ByFilter[FilterRegion] += other
	}
	return u
}
