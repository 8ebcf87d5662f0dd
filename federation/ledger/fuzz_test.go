package ledger

import (
	"encoding/json"
	"testing"
)

// FuzzApply applies what a peer could put in the log, decoded from JSON,
// command after command, and checks what the ledger must hold whatever it
// is given: no panic, an epoch that only goes up by one at a time, a
// fenced epoch that only goes up and never passes the epoch, and at most
// one epoch that is not fenced (the one that may write). A snapshot's
// round trip gives the same ledger.
func FuzzApply(f *testing.F) {
	seed := func(cmds ...Command) []byte {
		b, _ := json.Marshal(cmds)
		return b
	}
	f.Add(seed(report("a", "hub-a", t0, "a1"), Command{Op: OpHome, Key: "t/w", Home: "a"},
		Command{Op: OpBumpEpoch, Key: "t/w", Host: "a1"}, Command{Op: OpFence, Key: "t/w", Epoch: 1},
		Command{Op: OpBumpEpoch, Key: "t/w", From: 1, Host: "a1"}))
	f.Add(seed(Command{Op: OpBumpEpoch, Key: "t/w", From: -1, Host: "a1"}, Command{Op: OpFence, Key: "t/w", Epoch: -5}))
	f.Add([]byte(`[{"op":"ReportRegion","region":{"name":"a","hub":"h","reported":"2026-01-01T00:00:00Z"},"hosts":[{"name":"a1","region":"a"},{"name":"a1","region":"a"}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cmds []Command
		if json.Unmarshal(data, &cmds) != nil {
			return
		}
		s := New()
		// Every command in the fuzzed log also comes with a region that
		// exists, so that vcluster commands get past the first checks.
		if _, err := s.Apply(report("a", "hub-a", t0, "a1", "a2")); err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			before := s.Clone()
			_, _ = s.Apply(c)
			for key, vc := range s.VClusters {
				prev, existed := before.VClusters[key]
				switch {
				case vc.FencedEpoch > vc.Epoch || vc.FencedEpoch < 0:
					t.Fatalf("%s: fenced epoch %d, epoch %d", key, vc.FencedEpoch, vc.Epoch)
				case vc.Epoch > 1 && vc.FencedEpoch < vc.Epoch-1:
					t.Fatalf("%s: epochs %d to %d are all unfenced", key, vc.FencedEpoch+1, vc.Epoch)
				case existed && (vc.Epoch < prev.Epoch || vc.Epoch > prev.Epoch+1 || vc.FencedEpoch < prev.FencedEpoch):
					t.Fatalf("%s: went from %+v to %+v", key, prev, vc)
				case !existed && vc.Epoch != 0 && vc.FencedEpoch != vc.Epoch-1:
					t.Fatalf("%s: appeared at epoch %d, with epoch %d fenced", key, vc.Epoch, vc.FencedEpoch)
				}
			}
		}
		snap, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		restored := New()
		if err := json.Unmarshal(snap, restored); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(restored)
		if string(again) != string(snap) {
			t.Fatalf("a snapshot's round trip changed the ledger:\n%s\n%s", snap, again)
		}
	})
}
