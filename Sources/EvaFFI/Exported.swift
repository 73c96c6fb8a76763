// A service imports EvaFFI alone: the EAPI vocabulary (MsgPackValue, OID,
// EAPIError, ActionTracker, ...) and the ABI structs come with it.
@_exported import CEvaFFI
@_exported import EAPI
