package sim

import "fmt"

// workerModel runs the job queue and the workers, one second at a time.
//
// Jobs arrive in the Redis list (FIFO). Each ready worker runs up to
// `concurrency` jobs at once; a job's service time is log-normal with mean
// jobMeanSeconds and coefficient of variation jobCV. A slot that finishes
// within a second starts the next job in the same second. A deleted worker
// takes no new job, finishes what it runs and exits, or is killed after
// terminationGracePeriodSeconds and its unfinished jobs go back to the head
// of the queue. CPU and memory follow the slots' occupancy in the second.
//
// A job needs cpuPerJob millicores to run at full speed. When the busy slots
// want more than the pod's available CPU, all of them slow down in
// proportion (CFS shares the quota): service times are in full-speed
// seconds, and a slot does `speed` of them per second.
type workerModel struct {
	p     *Worker
	queue jobQueue
	g     rng
	svc   logNormal
	// shared are service times drawn beforehand from g's stream; next is
	// the first not taken (nil: g draws)
	shared *Arrivals
	next   int
	// fullSpeed is the speed of a pod with every slot busy (1: its CPU suffices).
	fullSpeed float64

	late int64 // jobs that waited longer than waitSLOSeconds before a worker took them
}

func newWorkerModel(p *Worker, d *deployment, g rng) (*workerModel, error) {
	m := &workerModel{p: p, queue: newJobQueue(), g: g, svc: newLogNormal(p.JobMeanSeconds, p.JobCV)}
	m.fullSpeed = m.speed(d, p.Concurrency)
	if m.fullSpeed <= 0 {
		return nil, fmt.Errorf("worker.idleCPU: %gm leaves no CPU for jobs in a %s pod (%gm available)", p.IdleCPU, d.name, d.cpuAvail)
	}
	return m, nil
}

// speed is how fast each of busy slots runs on d's available CPU.
func (m *workerModel) speed(d *deployment, busy int) float64 {
	if busy == 0 {
		return 1
	}
	return min(1, (d.cpuAvail-m.p.IdleCPU)/(float64(busy)*m.p.CPUPerJob))
}

// service draws the next job's service time: the shared draws while they
// last, then the stream from where they end.
func (m *workerModel) service() float64 {
	if a := m.shared; a != nil {
		if m.next < len(a.svc) {
			m.next++
			return a.svc[m.next-1]
		}
		m.g, m.shared = fromPCG(a.svcRest), nil
	}
	return m.svc.draw(m.g)
}

// perPod is the jobs per second one ready worker completes at full load.
func (m *workerModel) perPod() float64 {
	return float64(m.p.Concurrency) / m.p.JobMeanSeconds * m.fullSpeed
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
			p.cpu = min(m.p.StartupCPU, d.cpuAvail)
			p.cpuCum += p.cpu
			continue
		}
		take := p.ready(t)
		speed := 1.0
		if m.fullSpeed < 1 {
			// the slots that run this second: the busy ones and those the queue fills
			busy := 0
			for k := 0; k < conc; k++ {
				if p.slots[k].busy {
					busy++
				}
			}
			if take {
				busy = min(conc, busy+int(min(m.queue.depth, int64(conc))))
			}
			speed = m.speed(d, busy)
		}
		work, occupancy, busyAtEnd := 0.0, 0.0, 0
		for k := 0; k < conc; k++ {
			s := &p.slots[k]
			avail := speed // full-speed seconds this slot can do this second
			if s.busy {
				if s.remaining > avail {
					s.remaining -= avail
					work += avail
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
				svc := m.service()
				if svc > avail {
					*s = slot{busy: true, remaining: svc - avail, arrival: arrival}
					avail = 0
					busyAtEnd++
					break
				}
				avail -= svc
				done++
			}
			work += speed - avail
			occupancy += (speed - avail) / speed
		}
		p.cpu = min(m.p.IdleCPU+m.p.CPUPerJob*work, d.cpuAvail)
		p.cpuCum += p.cpu
		p.mem = m.p.BaseMemoryMi + m.p.MemoryMiPerJob*occupancy
		if p.mem > d.memLimit {
			d.oomKill(p, t, &m.queue, m.p.BaseMemoryMi)
			busyAtEnd = 0
		}
		if p.deleted && busyAtEnd == 0 {
			p.goneAt = min(p.goneAt, t+1) // nothing left to finish: exit
		}
	}
	return done
}
