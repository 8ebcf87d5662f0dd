package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LogFile is where `vfleet lab up` sends the output of a lab it runs in the
// background. A lab's own cleanup leaves it alone: it belongs to the lab
// being started.
const LogFile = "lab.log"

// lockDir takes an exclusive flock on dir/lab.lock. The kernel drops it when
// the holder dies, so a crashed lab never leaves the directory locked.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if st, err := ReadState(dir); err == nil {
				holder = fmt.Sprintf("pid %d", st.Pid)
			}
			return nil, fmt.Errorf("%w: %s is used by a running lab (%s): stop it with \"vfleet lab down --dir %s\", or choose another directory",
				ErrInUse, dir, holder, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// ErrInUse is returned when another lab holds the directory.
var ErrInUse = errors.New("lab directory in use")

// inUse reports whether a running lab holds dir.
func inUse(dir string) bool {
	f, err := lockDir(dir)
	if err != nil {
		return errors.Is(err, ErrInUse)
	}
	f.Close()
	return false
}

// InUse reports whether a running lab holds dir.
func InUse(dir string) bool { return inUse(dir) }

// CheckDir reports whether a lab could start in dir: it is new, empty, or
// holds a lab that is no longer running.
func CheckDir(dir string) error {
	if inUse(dir) {
		_, err := lockDir(dir)
		return err
	}
	_, err := checkDir(dir)
	return err
}

// checkDir returns the state of the lab that dir holds, nil if it holds
// none, or an error if dir holds something else: the lab never deletes what
// it did not create.
func checkDir(dir string) (*State, error) {
	old, err := ReadState(dir)
	if err == nil {
		return old, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != lockFile && e.Name() != LogFile {
			return nil, fmt.Errorf("%s is not empty and holds no lab: choose an empty or new directory", dir)
		}
	}
	return nil, nil
}
