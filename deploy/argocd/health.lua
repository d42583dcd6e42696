-- Argo CD health check for s3connection.dev/S3Connection
-- (argocd-cm key resource.customizations.health.s3connection.dev_S3Connection).
--
-- Runs in Argo CD's default Lua sandbox (no useOpenLibs): only the base and
-- table libraries are there, so this script uses no string, math or os
-- function, only `..`, tostring and comparisons.
--
--   Suspended    spec.suspend is true (with the last Ready status and reason)
--   Progressing  the operator has not validated the current generation yet
--                (no status, status.observedGeneration or the Ready
--                condition's observedGeneration below metadata.generation)
--   Degraded     Stalled=True, or Ready=False: a definite failure
--   Healthy      Ready=True
--   Progressing  anything else: Ready=Unknown (validating, or a transient
--                failure being retried), Reconciling=True
local hs = {}

local function findCondition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- "<reason>: <message>", or whichever of the two is set.
local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason
  local message = c.message
  if reason ~= nil and reason ~= "" and message ~= nil and message ~= "" then
    return tostring(reason) .. ": " .. tostring(message)
  end
  if message ~= nil and message ~= "" then
    return tostring(message)
  end
  if reason ~= nil and reason ~= "" then
    return tostring(reason)
  end
  return fallback
end

local spec = obj.spec or {}
local status = obj.status
local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local conditions = nil
if status ~= nil then
  conditions = status.conditions
end

if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Validation is suspended (spec.suspend is true)"
  local last = findCondition(conditions, "Ready")
  if last ~= nil and last.status ~= nil then
    hs.message = hs.message .. "; last result: Ready=" .. tostring(last.status)
    if last.reason ~= nil and last.reason ~= "" then
      hs.message = hs.message .. " (" .. tostring(last.reason) .. ")"
    end
  end
  return hs
end

local waiting = "Waiting for the operator to validate generation " .. tostring(generation)
local ready = findCondition(conditions, "Ready")
if status == nil or status.observedGeneration == nil or status.observedGeneration < generation
    or ready == nil or ready.observedGeneration == nil or ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end

local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, describe(ready, "Stalled"))
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, describe(findCondition(conditions, "Reconciling"), waiting))
return hs
