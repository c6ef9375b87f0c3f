package actor

import (
	"sync"
)

// Scheduling states of an actor. An actor is in the run queue at most once
// and is stepped by at most one worker at a time; a wake-up while it runs
// marks it dirty so that it is stepped again.
const (
	schedIdle int32 = iota
	schedQueued
	schedRunning
	schedDirty
)

// scheduler is a FIFO run queue served by a fixed pool of workers. Workers
// sleep on a condition variable when nothing is ready: no polling.
type scheduler struct {
	mu     sync.Mutex
	cond   sync.Cond
	q      []*instance
	head   int
	idle   int
	closed bool
	wg     sync.WaitGroup
}

func (s *scheduler) start(workers int, step func(*instance) bool) {
	s.cond.L = &s.mu
	s.wg.Add(workers)
	for range workers {
		go s.work(step)
	}
}

func (s *scheduler) push(a *instance) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		a.sched.Store(schedIdle)
		return
	}
	s.q = append(s.q, a)
	if s.idle > 0 {
		s.cond.Signal()
	}
	s.mu.Unlock()
}

func (s *scheduler) pop() *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.head == len(s.q) && !s.closed {
		s.idle++
		s.cond.Wait()
		s.idle--
	}
	if s.closed {
		return nil
	}
	a := s.q[s.head]
	s.q[s.head] = nil
	s.head++
	if s.head == len(s.q) {
		// Reuse the backing array once drained.
		s.q, s.head = s.q[:0], 0
	} else if s.head > 1024 && s.head*2 > len(s.q) {
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q, s.head = s.q[:n], 0
	}
	return a
}

func (s *scheduler) work(step func(*instance) bool) {
	defer s.wg.Done()
	for {
		a := s.pop()
		if a == nil {
			return
		}
		a.sched.Store(schedRunning)
		more := step(a)
		if !more && a.sched.CompareAndSwap(schedRunning, schedIdle) {
			continue
		}
		// Woken while running, or burst used up: run again later.
		a.sched.Store(schedQueued)
		s.push(a)
	}
}

func (s *scheduler) stop() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()
}

// wake puts the actor on the run queue unless it is there already.
func (a *instance) wake() {
	for {
		switch st := a.sched.Load(); st {
		case schedIdle:
			if a.sched.CompareAndSwap(schedIdle, schedQueued) {
				a.rt.sched.push(a)
				return
			}
		case schedRunning:
			if a.sched.CompareAndSwap(schedRunning, schedDirty) {
				return
			}
		default:
			return
		}
	}
}
