-- GCRA for one client of one limit group, read and updated atomically in Redis.
--
-- KEYS[1]  <prefix>:<group>:<client>: the client's theoretical arrival time (TAT), in
--          microseconds of Redis's clock.
-- ARGV[1]  emission interval in microseconds: 60 000 000 / requests per minute.
-- ARGV[2]  burst: requests a client with a full budget may send at once.
-- Returns  {1, 0} when the request is allowed, {0, microseconds until it would be}.

-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told to
-- replicate effects; later versions always do and keep this as a no-op.
if redis.replicate_commands then
  redis.replicate_commands()
end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
-- Redis's clock rather than each caller's: instances whose clocks disagree still share
-- one budget.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end

local new_tat = tat + interval
local allowed_at = new_tat - interval * burst
if allowed_at > now then
  return {0, allowed_at - now}
end

-- The key means nothing once the TAT has passed (a full budget), so it expires then.
-- '%d': tostring would print a microsecond timestamp in 14 significant digits.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
