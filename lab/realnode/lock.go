package realnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockFile is held by the one lab on the machine that runs real nodes.
const lockFile = "/run/vfleet/real-nodes.lock"

// ipForwardSaved keeps the machine's ip_forward from before the first real
// node, to put it back when the last lab lets go.
const ipForwardSaved = "/run/vfleet/ip_forward.saved"

// Machine is the hold one lab has on this machine's real nodes.
type Machine struct{ f *os.File }

// Lock waits, until ctx ends, for the machine's real nodes, and then
// cleans up what an earlier lab that died left (its nodes and
// kube-proxy's rules). waiting is called once if another lab holds them.
func Lock(ctx context.Context, waiting func()) (*Machine, error) {
	told := false
	var f *os.File
	for f == nil {
		var err error
		if f, err = tryLock(); err != nil {
			return nil, err
		}
		if f != nil {
			break
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("another lab on this machine runs real nodes (%s is held): %w", lockFile, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	m := &Machine{f: f}
	// The cleanup runs to its end even for a caller that would not wait.
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, n := range leftovers() {
		errs = append(errs, Cleanup(n))
	}
	errs = append(errs, CleanupProxy(ctx))
	if _, err := os.Stat(ipForwardSaved); os.IsNotExist(err) {
		if cur, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
			errs = append(errs, os.WriteFile(ipForwardSaved, cur, 0o600))
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.Unlock()
		return nil, fmt.Errorf("clean up after an earlier lab's real nodes: %w", err)
	}
	return m, nil
}

// tryLock takes the lock file, or returns nil if another process holds it.
// The holder removes the file when it lets go (Unlock), so a lock taken on
// a file that is no longer the one at the path is no lock: it tries again.
func tryLock() (*os.File, error) {
	for {
		if err := os.MkdirAll(filepath.Dir(lockFile), 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, nil
			}
			return nil, fmt.Errorf("lock %s: %w", lockFile, err)
		}
		held, err1 := f.Stat()
		atPath, err2 := os.Stat(lockFile)
		if err1 == nil && err2 == nil && os.SameFile(held, atPath) {
			return f, nil
		}
		_ = f.Close()
	}
}

// Unlock puts the machine's ip_forward back as it was and lets another
// lab run real nodes. The nodes must be cleaned up first.
func (m *Machine) Unlock() {
	if m == nil || m.f == nil {
		return
	}
	if saved, err := os.ReadFile(ipForwardSaved); err == nil {
		if os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(strings.TrimSpace(string(saved))), 0o644) == nil {
			_ = os.Remove(ipForwardSaved)
		}
	}
	// Removed while held: whoever opened it meanwhile sees it is gone
	// (tryLock) and makes a new one.
	_ = os.Remove(lockFile)
	_ = m.f.Close()
	m.f = nil
	_ = syscall.Rmdir(filepath.Dir(lockFile))
}

// Sweep cleans up what labs that died left of their real nodes, unless a
// running lab holds the machine's real nodes (it swept when it took them).
func Sweep(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	m, err := Lock(ctx, nil)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	m.Unlock()
	return nil
}
