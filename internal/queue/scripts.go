package queue

import "github.com/redis/go-redis/v9"

// Every state change of a job is one Lua script, so Redis runs it atomically:
// no client can observe (or crash in) a half-done move between the ready list,
// the in-flight set, the delayed set and the dead list. All keys a script
// touches share the "{name}" hash tag, so the scripts also run on Redis Cluster.
//
// Time comes from Redis (TIME), not from the callers' clocks: leases, backoff
// due times and enqueue times written by different pods must be comparable,
// and the exporter computes ages against the same clock.

// nowMS is prepended to every script that needs the current time.
// redis.replicate_commands() lets Redis < 5 replicate a script that calls TIME
// before writing (Redis >= 5 replicates effects anyway, where it is a no-op).
const nowMS = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// enqueueScript: KEYS ready, enqueued, attempts, errors; ARGV ids...
// ZADD NX keeps the first enqueue time if the same id is pushed twice.
// A fresh enqueue is a fresh job, so old attempt counts and errors (of a
// dead-lettered job that is re-enqueued) are cleared.
var enqueueScript = redis.NewScript(nowMS + `
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
  redis.call('LPUSH', KEYS[1], ARGV[i])
end
return now
`)

// claimFn and ackFn are the claim and the acknowledgement as Lua functions
// of their keys, so claimScript, ackScript and ackClaimScript share one
// body each (claimFn reads now: put it after nowMS).
//
// claim returns false when the list is empty, else {id, attempt,
// deadline_ms, ready_since_ms, now_ms}; ready_since_ms is -1 for an item
// pushed by hand that nobody had seen yet. ack returns 1, or 0 when the
// caller no longer holds the lease (it expired and the job was handed to
// someone else): then nothing is touched.
const claimFn = `
local function claim(ready, inflight, attempts, enqueued, claims, lease_ms, token)
  local id = redis.call('RPOP', ready)
  if not id then return false end
  local deadline = now + tonumber(lease_ms)
  redis.call('ZADD', inflight, deadline, id)
  local n = redis.call('HINCRBY', attempts, id, 1)
  local since = redis.call('ZSCORE', enqueued, id)
  if since then
    redis.call('ZREM', enqueued, id)
  else
    since = -1
  end
  redis.call('HSET', claims, id, token)
  return {id, n, deadline, tonumber(since), now}
end
`

const ackFn = `
local function ack(inflight, attempts, claims, errors, id, token)
  if redis.call('HGET', claims, id) ~= token then return 0 end
  redis.call('ZREM', inflight, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', claims, id)
  redis.call('HDEL', errors, id)
  return 1
end
`

// claimScript: KEYS ready, inflight, attempts, enqueued, claims; ARGV lease_ms, token.
// Returns claim's answer.
var claimScript = redis.NewScript(nowMS + claimFn + `
return claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
`)

// ackScript: KEYS inflight, attempts, claims, errors; ARGV id, token.
// Returns ack's answer.
var ackScript = redis.NewScript(ackFn + `
return ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
`)

// ackClaimScript: KEYS inflight, attempts, claims, errors, ready, enqueued;
// ARGV id, token, lease_ms, next_token.
// ackScript followed by claimScript in one round trip: a busy worker that
// finishes a job takes the next one without a second call. Returns {acked}
// when no job is ready, else {acked, id, attempt, deadline_ms,
// ready_since_ms, now_ms}; acked is 1, or 0 when the lease was lost (then the
// finished job is not touched, exactly as ackScript). The claim is
// claimScript's, so a claimed job is in the in-flight set with its lease
// before the reply leaves Redis: at-least-once holds as with two calls.
var ackClaimScript = redis.NewScript(nowMS + ackFn + claimFn + `
local acked = ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
local c = claim(KEYS[5], KEYS[1], KEYS[2], KEYS[6], KEYS[3], ARGV[3], ARGV[4])
if not c then return {acked} end
return {acked, c[1], c[2], c[3], c[4], c[5]}
`)

// extendScript: KEYS inflight, claims; ARGV id, token, lease_ms.
// Returns the new deadline, or -1 when the lease is lost.
var extendScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return -1 end
` + nowMS + `
local deadline = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[1])
return deadline
`)

// nackScript: KEYS inflight, attempts, claims, errors, delayed, dead;
// ARGV id, token, reason, permanent(0|1), max_attempts, base_ms, max_ms, jitter_factor.
// Returns {-1} when the lease is lost, {0, attempts} when dead-lettered,
// {1, attempts, due_ms} when scheduled for a retry.
// The delay is base*2^(attempt-1), capped at max, scaled by jitter_factor
// (chosen by the caller in [1-j, 1]) so that jobs failed together by one
// outage do not all come back in the same instant.
var nackScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return {-1} end
` + nowMS + `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
local n = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[4] == '1' or n >= tonumber(ARGV[5]) then
  redis.call('LPUSH', KEYS[6], ARGV[1])
  return {0, n}
end
local d = tonumber(ARGV[6]) * math.pow(2, n - 1)
if d > tonumber(ARGV[7]) then d = tonumber(ARGV[7]) end
d = math.floor(d * tonumber(ARGV[8]))
redis.call('ZADD', KEYS[5], now + d, ARGV[1])
return {1, n, now + d}
`)

// releaseScript: KEYS ready, inflight, attempts, claims, enqueued; ARGV id, token.
// Gives an unfinished job back without counting the attempt: used when a
// worker shuts down before the job is done, which is not the job's fault.
// The job goes to the consuming end of the list, so it is taken next.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then return 0 end
` + nowMS + `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') > 0 then
  redis.call('HINCRBY', KEYS[3], ARGV[1], -1)
end
redis.call('ZADD', KEYS[5], 'NX', now, ARGV[1])
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
`)

// reapScript: KEYS ready, inflight, attempts, claims, enqueued, delayed, dead, errors;
// ARGV max_attempts, batch. Returns {returned, dead_lettered, promoted}.
//
// Expired leases (their consumer died or hung) go back to the consuming end of
// the list — they were claimed before anything now waiting — unless their
// attempts are used up, then they are dead-lettered. Due delayed retries are
// pushed at the producing end like new jobs, earliest due first.
// Several reapers may run at once: each script run is atomic, and a job moved
// by one is simply not found by the next.
var reapScript = redis.NewScript(nowMS + `
local batch = tonumber(ARGV[2])
local returned, dead, promoted = 0, 0, 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)
for i = #expired, 1, -1 do
  local id = expired[i]
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[4], id)
  local n = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  if n >= tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[8], id, 'lease expired on attempt ' .. n .. ' of ' .. ARGV[1])
    redis.call('LPUSH', KEYS[7], id)
    dead = dead + 1
  else
    redis.call('ZADD', KEYS[5], 'NX', now, id)
    redis.call('RPUSH', KEYS[1], id)
    returned = returned + 1
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, batch)
for i = 1, #due do
  redis.call('ZREM', KEYS[6], due[i])
  redis.call('ZADD', KEYS[5], 'NX', now, due[i])
  redis.call('LPUSH', KEYS[1], due[i])
  promoted = promoted + 1
end
return {returned, dead, promoted}
`)

// statsScript: KEYS ready, inflight, delayed, dead, enqueued.
// Returns {depth, inflight, delayed, dead, oldest_ready_ms (-1: none), now_ms}.
// Constant work whatever the queue length: LLEN, ZCARD, LINDEX -1, ZSCORE and
// ZRANGE 0 0 are O(1) or O(log N).
//
// An item at the consuming end without an enqueue time was pushed by hand
// (redis-cli lpush): it gets "first seen now" so its age grows from here on.
// That under-states its true age by at most one scrape interval plus the time
// it spent behind other jobs, and is the best O(1) answer without an enqueue
// time. When the list is empty every enqueue time left is stale (only a
// hand-deleted list leaves any), so they are dropped rather than reported as
// an ever-growing age.
var statsScript = redis.NewScript(nowMS + `
local depth = redis.call('LLEN', KEYS[1])
local oldest = -1
if depth == 0 then
  if redis.call('ZCARD', KEYS[5]) > 0 then redis.call('DEL', KEYS[5]) end
else
  local head = redis.call('LINDEX', KEYS[1], -1)
  if head and not redis.call('ZSCORE', KEYS[5], head) then
    redis.call('ZADD', KEYS[5], 'NX', now, head)
  end
  local r = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if r[2] then oldest = tonumber(r[2]) end
end
return {depth, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('LLEN', KEYS[4]), oldest, now}
`)

// redriveScript: KEYS ready, enqueued, inflight, delayed, errors, attempts;
// ARGV ids... Returns {redriven ids, {dead id, reason, ...}}.
//
// The reconciler passes ids that PostgreSQL holds as accepted and unfinished.
// An id the queue knows — ready (it has an enqueue time), claimed or waiting
// for a retry — is left alone. One with only a failure reason is
// dead-lettered: it is returned with the reason, so the reconciler can mark
// its row failed (the reaper dead-letters expired leases without PostgreSQL).
// Any other id is lost to the queue (Redis lost its data, or the gateway
// died between the row insert and the enqueue) and is enqueued as new. The
// check and the enqueue are one script, so reconcilers running at once
// cannot enqueue an id twice.
var redriveScript = redis.NewScript(nowMS + `
local out, dead = {}, {}
for i = 1, #ARGV do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) and not redis.call('ZSCORE', KEYS[3], id)
     and not redis.call('ZSCORE', KEYS[4], id) then
    local reason = redis.call('HGET', KEYS[5], id)
    if reason then
      dead[#dead + 1] = id
      dead[#dead + 1] = reason
    else
      redis.call('ZADD', KEYS[2], now, id)
      redis.call('HDEL', KEYS[6], id)
      redis.call('LPUSH', KEYS[1], id)
      out[#out + 1] = id
    end
  end
end
return {out, dead}
`)
