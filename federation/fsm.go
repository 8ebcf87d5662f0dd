package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/vfleet/vfleet/federation/ledger"
)

// fsm applies the raft log to the ledger.
type fsm struct {
	mu    sync.RWMutex
	state *ledger.State
}

var _ raft.FSM = (*fsm)(nil)

func newFSM() *fsm { return &fsm{state: ledger.New()} }

// applied is what Apply returns to the proposer.
type applied struct {
	epoch int64
	err   error
}

func (f *fsm) Apply(l *raft.Log) any {
	var c ledger.Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return applied{err: &ledger.Refusal{Err: fmt.Errorf("ledger entry %d does not decode: %w", l.Index, err)}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	epoch, err := f.state.Apply(c)
	return applied{epoch: epoch, err: err}
}

// read returns a copy of the ledger as applied so far.
func (f *fsm) read() *ledger.State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	data, err := json.Marshal(f.state)
	if err != nil {
		return nil, err
	}
	return snapshot(data), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := ledger.Decode(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

// snapshot is the ledger as JSON: compact, and small enough to hold.
type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

func (snapshot) Release() {}
