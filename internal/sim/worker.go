package sim

// workerModel runs the job queue and the workers, one second at a time.
//
// Jobs arrive in the Redis list (FIFO). Each ready worker runs up to
// `concurrency` jobs at once; a job's service time is log-normal with mean
// jobMeanSeconds and coefficient of variation jobCV. A slot that finishes
// within a second starts the next job in the same second. A deleted worker
// takes no new job, finishes what it runs and exits, or is killed after
// terminationGracePeriodSeconds and its unfinished jobs go back to the head
// of the queue. CPU and memory follow the slots' occupancy in the second.
type workerModel struct {
	p     *Worker
	queue jobQueue
	g     rng
	svc   logNormal

	late int64 // jobs that waited longer than waitSLOSeconds before a worker took them
}

func newWorkerModel(p *Worker, g rng) *workerModel {
	return &workerModel{p: p, queue: newJobQueue(), g: g, svc: newLogNormal(p.JobMeanSeconds, p.JobCV)}
}

// step runs second t: arrivals join the queue, every worker slot works for
// one second. It returns the jobs completed.
func (m *workerModel) step(d *deployment, t int64, arrivals int64) (done int64) {
	m.queue.push(t, arrivals)
	conc := m.p.Concurrency
	for i := range d.pods {
		p := &d.pods[i]
		if !p.running(t) {
			continue
		}
		if p.mem == 0 {
			p.mem = m.p.BaseMemoryMi
		}
		if !p.deleted && t < p.readyAt {
			p.cpu = m.p.StartupCPU
			p.cpuCum += p.cpu
			continue
		}
		take := p.ready(t)
		occupancy, busyAtEnd := 0.0, 0
		for k := 0; k < conc; k++ {
			s := &p.slots[k]
			avail := 1.0
			if s.busy {
				if s.remaining > avail {
					s.remaining -= avail
					occupancy++
					busyAtEnd++
					continue
				}
				avail -= s.remaining
				s.busy = false
				done++
			}
			for take && avail > 0 {
				arrival, ok := m.queue.pop()
				if !ok {
					break
				}
				if float64(t-arrival) > m.p.WaitSLOSeconds {
					m.late++
				}
				svc := m.svc.draw(m.g)
				if svc > avail {
					*s = slot{busy: true, remaining: svc - avail, arrival: arrival}
					avail = 0
					busyAtEnd++
					break
				}
				avail -= svc
				done++
			}
			occupancy += 1 - avail
		}
		p.cpu = min(m.p.IdleCPU+m.p.CPUPerJob*occupancy, d.cpuLimit)
		p.cpuCum += p.cpu
		p.mem = m.p.BaseMemoryMi + m.p.MemoryMiPerJob*occupancy
		if p.deleted && busyAtEnd == 0 {
			p.goneAt = min(p.goneAt, t+1) // nothing left to finish: exit
		}
	}
	return done
}
