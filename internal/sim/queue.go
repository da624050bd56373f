package sim

// jobQueue is the Redis job list as a FIFO of arrival buckets: every job
// that arrived in the same second shares one bucket. It is a ring buffer
// that grows (doubling) only when it is full, so steady operation does not
// allocate. Jobs handed back by a killed worker go to the front.
type jobQueue struct {
	buf   []bucket
	head  int // index of the oldest bucket
	n     int // buckets in use
	depth int64
}

type bucket struct {
	arrival int64 // second the jobs arrived
	count   int64
}

func newJobQueue() jobQueue { return jobQueue{buf: make([]bucket, 1024)} }

func (q *jobQueue) grow() {
	nb := make([]bucket, 2*len(q.buf))
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

// push appends count jobs that arrived at t.
func (q *jobQueue) push(t, count int64) {
	if count <= 0 {
		return
	}
	q.depth += count
	if q.n > 0 {
		last := &q.buf[(q.head+q.n-1)%len(q.buf)]
		if last.arrival == t {
			last.count += count
			return
		}
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = bucket{t, count}
	q.n++
}

// pushFront returns one job that arrived at t to the head of the queue.
func (q *jobQueue) pushFront(t int64) {
	q.depth++
	if q.n > 0 && q.buf[q.head].arrival == t {
		q.buf[q.head].count++
		return
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = bucket{t, 1}
	q.n++
}

// pop removes the oldest job and returns its arrival time.
func (q *jobQueue) pop() (arrival int64, ok bool) {
	if q.n == 0 {
		return 0, false
	}
	b := &q.buf[q.head]
	arrival = b.arrival
	b.count--
	q.depth--
	if b.count == 0 {
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	return arrival, true
}

// oldestAge is the age in seconds of the oldest queued job at now (0 if empty).
func (q *jobQueue) oldestAge(now int64) int64 {
	if q.n == 0 {
		return 0
	}
	return now - q.buf[q.head].arrival
}
