package federation

import (
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestLogReopensAfterTailCut is the restart of a hub whose follower cut
// its log's tail (entries a new leader never committed) and was then
// killed: the log must open again and still hold every entry it kept.
func TestLogReopensAfterTailCut(t *testing.T) {
	dir := t.TempDir()
	logger := hclog.NewNullLogger()

	log, meta, err := openLog(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	var entries []*raft.Log
	for i := uint64(1); i <= 5; i++ {
		entries = append(entries, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d", i)})
	}
	if err := log.StoreLogs(entries); err != nil {
		t.Fatal(err)
	}
	// What raft does when a new leader's log disagrees: drop the suffix,
	// then append the leader's entry in its place.
	if err := log.DeleteRange(5, 5); err != nil {
		t.Fatal(err)
	}
	if err := log.StoreLog(&raft.Log{Index: 5, Term: 2, Type: raft.LogCommand, Data: []byte("leader's entry")}); err != nil {
		t.Fatal(err)
	}
	if err := closeStore(log, meta); err != nil {
		t.Fatal(err)
	}

	log, meta, err = openLog(dir, logger)
	if err != nil {
		t.Fatalf("reopen after a tail cut: %v", err)
	}
	defer func() {
		if err := closeStore(log, meta); err != nil {
			t.Error(err)
		}
	}()
	for i := uint64(1); i <= 5; i++ {
		var got raft.Log
		if err := log.GetLog(i, &got); err != nil {
			t.Fatalf("entry %d after reopening: %v", i, err)
		}
		if i == 5 && got.Term != 2 {
			t.Errorf("entry 5 has term %d, want the new leader's term 2", got.Term)
		}
	}
	if last, err := log.LastIndex(); err != nil || last != 5 {
		t.Errorf("last index %d (%v), want 5", last, err)
	}
}
