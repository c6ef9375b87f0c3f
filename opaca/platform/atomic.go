package platform

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// writeFileAtomic writes data to a temporary file in the same directory and
// renames it over path, so a crash never leaves a half-written state file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("platform: state file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("platform: state file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("platform: state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("platform: state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("platform: state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("platform: state file: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// saver coalesces change notifications into at most one save per interval.
type saver struct {
	interval time.Duration
	save     func() error
	onErr    func(error)

	mu      sync.Mutex
	dirty   bool
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup
}

func newSaver(interval time.Duration, save func() error, onErr func(error)) *saver {
	return &saver{interval: interval, save: save, onErr: onErr}
}

// mark schedules a save.
func (s *saver) mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.dirty = true
	if s.timer == nil {
		s.running.Add(1)
		s.timer = time.AfterFunc(s.interval, s.fire)
	}
}

func (s *saver) fire() {
	defer s.running.Done()
	s.mu.Lock()
	s.timer = nil
	dirty := s.dirty
	s.dirty = false
	s.mu.Unlock()
	if dirty {
		if err := s.save(); err != nil && s.onErr != nil {
			s.onErr(err)
		}
	}
}

// flush stops the timer and saves now when anything is pending or force.
func (s *saver) flush(force bool) error {
	s.mu.Lock()
	if s.timer != nil && s.timer.Stop() {
		s.timer = nil
		s.running.Done()
	}
	dirty := s.dirty || force
	s.dirty = false
	s.mu.Unlock()
	s.running.Wait()
	if dirty {
		return s.save()
	}
	return nil
}

// stop flushes and refuses later marks.
func (s *saver) stop() error {
	err := s.flush(true)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return err
}
