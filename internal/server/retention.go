package server

import (
	"context"
	"time"
)

// sweepBatch bounds one purge statement, so a backlog of expired audio is
// deleted in short transactions rather than one long one.
const sweepBatch = 500

// sweepInterval is how often the gateway deletes audio whose retention ran
// out. With --retain-audio 0 the audio goes in the write that finishes the
// job, and the sweep only catches rows finished before retention existed,
// so once a minute is plenty; with a retention it is a tenth of it, between
// 1 s and 1 min.
func (c Config) sweepInterval() time.Duration {
	if c.AudioSweepInterval > 0 {
		return c.AudioSweepInterval
	}
	if c.RetainAudio <= 0 {
		return time.Minute
	}
	return min(max(c.RetainAudio/10, time.Second), time.Minute)
}

// SweepAudio deletes expired audio (store.PurgeExpiredAudio) every
// sweepInterval until ctx ends. Every replica sweeps; the purge skips rows
// another holds. Errors are logged and retried at the next tick: the
// database being down is /ready's business.
func (s *Server) SweepAudio(ctx context.Context) error {
	if s.deps.Jobs == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.sweepInterval())
	defer t.Stop()
	for {
		for {
			n, err := s.deps.Jobs.PurgeExpiredAudio(ctx, sweepBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("audio retention sweep failed; retrying at the next tick", "err", err)
				}
				break
			}
			if n > 0 {
				s.log.Info("deleted audio past its retention", "jobs", n)
			}
			if n < sweepBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
