import EAPI

/// What unit actions and lmacros do to the rest of the controller. The
/// controller implements it; the action engine knows nothing else of it.
public protocol ActionEffects: Sendable {
    /// The unit exists, or is created now when `auto_create` is on; else
    /// NOT_FOUND.
    func ensureUnit(_ oid: OID) throws(EAPIError)
    /// Applies a completed action: the unit's state becomes `{status, value}`
    /// (RAW event) and the `action_map` variable, if any, is set.
    func completeUnitAction(_ oid: OID, status: Int16, value: MsgPackValue)
    /// As the `set` method: `value` nil keeps the value, `.some(.nil)` sets nil.
    func setItem(_ oid: OID, status: Int16?, value: MsgPackValue?) throws(EAPIError)
    /// As the `var.set` method.
    func setVariable(tag: String, value: MsgPackValue) throws(EAPIError)
}
