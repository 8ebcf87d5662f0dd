package takeover

import (
	"fmt"
	"slices"
	"testing"
)

// TestSpread: the choice depends on the key and the set of regions, not
// their order; a lost region's vclusters are shared out among the
// survivors; and a key keeps its region when a region it did not go to
// leaves.
func TestSpread(t *testing.T) {
	regions := []string{"r-a", "r-b", "r-c"}
	if got := spread("shop/web", nil); got != "" {
		t.Errorf("no region: %q", got)
	}
	if got := spread("shop/web", []string{"r-b"}); got != "r-b" {
		t.Errorf("one region: %q", got)
	}
	count := map[string]int{}
	for i := range 300 {
		key := fmt.Sprintf("team-%d/vc-%d", i%7, i)
		got := spread(key, regions)
		count[got]++
		if back := spread(key, []string{"r-c", "r-a", "r-b"}); back != got {
			t.Fatalf("%s: %s, and %s in another order", key, got, back)
		}
		for _, gone := range regions {
			if gone == got {
				continue
			}
			left := slices.DeleteFunc(slices.Clone(regions), func(r string) bool { return r == gone })
			if now := spread(key, left); now != got {
				t.Fatalf("%s moved from %s to %s when %s left", key, got, now, gone)
			}
		}
	}
	for _, r := range regions {
		// 100 each on average; far fewer would be one region taking most.
		if count[r] < 70 {
			t.Errorf("%s took %d of 300: %v", r, count[r], count)
		}
	}
}
