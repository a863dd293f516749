#!lua flags=allow-cross-slot-keys
-- On Redis Cluster: commit.lua for every lead a node serves, whatever their slots, in one call.
-- ARGV  the number of keys k, the k keys, then commit.lua's ARGV. Every key is read before anything
-- is written, so a key this node does not serve (moved, failed over) fails the call whole and the
-- caller falls back to one call per slot.
local count = tonumber(ARGV[1])
local keys, args = {}, {}
for i = 1, count do
  keys[i] = ARGV[i + 1]
  redis.call('EXISTS', keys[i])
end
for i = count + 2, #ARGV do
  args[#args + 1] = ARGV[i]
end
local KEYS, ARGV = keys, args
