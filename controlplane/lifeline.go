package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// watchLifeline ends the control plane once its runner has been gone for
// OrphanGrace: the runner holds an exclusive lock on the lifeline, so
// whoever can take a shared one knows it is not running.
func (cp *ControlPlane) watchLifeline(ctx context.Context, cancel context.CancelCauseFunc) {
	var orphanSince time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if lockHeld(cp.cfg.Lifeline) {
			orphanSince = time.Time{}
			continue
		}
		if orphanSince.IsZero() {
			orphanSince = time.Now()
			fmt.Fprintf(cp.cfg.Log, "control plane %s: its agent is gone; stopping unless one comes back within %s\n", cp.cfg.Name, cp.cfg.OrphanGrace)
		}
		if time.Since(orphanSince) >= cp.cfg.OrphanGrace {
			cancel(fmt.Errorf("its agent was gone for %s", cp.cfg.OrphanGrace))
			return
		}
	}
}

// lockHeld reports whether another process holds an exclusive lock on path.
// A missing file counts as not held.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
