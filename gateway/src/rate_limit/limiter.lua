-- Tollgate rate limits: one atomic call per request (docs/design.md, "Rate limits").
--
-- One hash per wallet holds up to three windows ("rings"): m = requests per minute,
-- d = requests per day, t = tokens per minute. A ring of N sub-buckets of g ms has fields
-- <p>h (newest bucket written), <p>t (total of buckets <p>h-N ..= <p>h) and <p>0..<p>N (slot
-- j % (N+1) holds bucket j). The arithmetic is gateway/src/rate_limit/window.rs's;
-- tests/rate_limits.rs replays random traffic through both and compares every answer.
-- The running total keeps the common case (same bucket as the last request) at one HMGET
-- and one HSET; the slots are read only when a bucket leaves the window or a request is
-- refused (Retry-After).
--
-- admit:  KEYS = {wallet hash}
--         ARGV = {"admit", now_ms (0 = Redis TIME), rpm, rpd, tpm (0 = no limit),
--                 minute_buckets, minute_width_ms, day_buckets, day_width_ms}
--         -> {allowed, reason (0 none, 1 rpm, 2 rpd, 3 tpm), retry_ms,
--             req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms}
--            (a limit of -1: not limited)
-- charge: KEYS = {wallet hash}; ARGV = {"charge", now_ms, tokens, minute_buckets, minute_width_ms}
if redis.replicate_commands then redis.replicate_commands() end

local key = KEYS[1]
local F = {'0','1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17',
           '18','19','20','21','22','23','24','25','26','27','28','29','30','31'}

local now = tonumber(ARGV[2])
if not now or now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ring(p, n, g)
  return {p = p, n = n, s = n + 1, g = g, b = math.floor(now / g)}
end

local function slot(r, j)
  return r.p .. F[(j % r.s) + 1]
end

-- Read the rings' heads, totals and current slots in one HMGET; then, per ring, drop the
-- buckets that left the window since its last write.
local function load(rings)
  local fields = {}
  for _, r in ipairs(rings) do
    fields[#fields + 1] = r.p .. 'h'
    fields[#fields + 1] = r.p .. 't'
    fields[#fields + 1] = slot(r, r.b)
  end
  local v = redis.call('HMGET', key, unpack(fields))
  for i, r in ipairs(rings) do
    local head = tonumber(v[3 * i - 2])
    r.total = tonumber(v[3 * i - 1]) or 0
    r.cur = tonumber(v[3 * i]) or 0
    r.head = head
    if head == nil then
      r.total, r.cur = 0, 0
    elseif r.b < head then
      -- A clock that went backwards (Redis failed over to a host whose clock is behind)
      -- keeps the newer head. (window.rs's head also moves on reads, so after such a step a
      -- count may land in an older bucket here than there, by at most the step.)
      r.b = head
      r.cur = tonumber(redis.call('HGET', key, slot(r, head))) or 0
    elseif r.b > head then
      r.cur = 0
      if r.b - head >= r.s then
        r.total = 0
      else
        -- Buckets head-N ..= b-N-1 leave; their slots are the new buckets' slots.
        local gone = {}
        for j = math.max(0, head - r.n), r.b - r.n - 1 do gone[#gone + 1] = slot(r, j) end
        if #gone > 0 then
          for _, c in ipairs(redis.call('HMGET', key, unpack(gone))) do
            r.total = r.total - (tonumber(c) or 0)
          end
        end
      end
    end
  end
end

-- Count n in each ring's current bucket (one HSET), keeping the hash alive for `ttl` ms.
local function add(rings, n, ttl)
  local args = {}
  local advanced = false
  for _, r in ipairs(rings) do
    if r.head == nil or r.b > r.head then
      advanced = true
      -- Slots of the buckets skipped since the last write still hold old counts.
      if r.head ~= nil then
        for j = math.max(r.head + 1, r.b - r.n), r.b - 1 do
          args[#args + 1] = slot(r, j)
          args[#args + 1] = 0
        end
      end
      args[#args + 1] = r.p .. 'h'
      args[#args + 1] = r.b
    end
    r.cur = r.cur + n
    r.total = r.total + n
    r.written = r.b
    args[#args + 1] = slot(r, r.b)
    args[#args + 1] = r.cur
    args[#args + 1] = r.p .. 't'
    args[#args + 1] = r.total
  end
  redis.call('HSET', key, unpack(args))
  if advanced and redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- Until the count drops below `limit` (reads every slot: only for a refusal).
local function retry_after(r, limit)
  local names = {}
  for i = 1, r.s do names[i] = r.p .. F[i] end
  local v = redis.call('HMGET', key, unpack(names))
  local left = r.total
  for j = math.max(0, r.b - r.n), r.b do
    if r.head ~= nil and j <= r.head and j >= r.head - r.n then
      left = left - (tonumber(v[(j % r.s) + 1]) or 0)
    end
    if left < limit then return math.max(0, (j + r.s) * r.g - now) end
  end
  return math.max(0, (r.b + r.s) * r.g - now)
end

-- Until the window is empty: the newest written bucket leaves (every write is positive).
local function quota(r, limit)
  local reset = 0
  local newest = r.written or r.head
  if r.total > 0 and newest then reset = math.max(0, (newest + r.s) * r.g - now) end
  return {limit, math.max(0, limit - r.total), reset}
end

if ARGV[1] == 'charge' then
  local n = tonumber(ARGV[3])
  if n > 0 then
    local t = ring('t', tonumber(ARGV[4]), tonumber(ARGV[5]))
    load({t})
    add({t}, n, t.s * t.g)
  end
  return 1
end

local rpm, rpd, tpm = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local mn, mg, dn, dg = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local all, counted = {}, {}
local t, m, d
if tpm > 0 then t = ring('t', mn, mg); all[#all + 1] = t end
if rpm > 0 then m = ring('m', mn, mg); all[#all + 1] = m; counted[#counted + 1] = m end
if rpd > 0 then d = ring('d', dn, dg); all[#all + 1] = d; counted[#counted + 1] = d end
load(all)

local reason, retry = 0, 0
local function check(r, limit, code)
  if r and r.total >= limit then
    local ms = retry_after(r, limit)
    if reason == 0 or ms > retry then reason, retry = code, ms end
  end
end
check(t, tpm, 3)
check(m, rpm, 1)
check(d, rpd, 2)
if reason == 0 and #counted > 0 then
  local ttl = (mn + 1) * mg
  if d then ttl = (dn + 1) * dg end
  add(counted, 1, ttl)
end

local req = {-1, 0, 0}
if reason == 2 then
  req = quota(d, rpd)
elseif reason == 1 then
  req = quota(m, rpm)
elseif m and d then
  local qm, qd = quota(m, rpm), quota(d, rpd)
  if qd[2] < qm[2] then req = qd else req = qm end
elseif m then
  req = quota(m, rpm)
elseif d then
  req = quota(d, rpd)
end
local tok = {-1, 0, 0}
if t then tok = quota(t, tpm) end
local allowed = 0
if reason == 0 then allowed = 1 end
return {allowed, reason, retry, req[1], req[2], req[3], tok[1], tok[2], tok[3]}
