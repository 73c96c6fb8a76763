import EAPI

/// What unit actions and lmacros do to the controller's items and variables.
struct ControllerEffects: ActionEffects {
    let core: ControllerCore

    func ensureUnit(_ oid: OID) throws(EAPIError) {
        if core.itemExists(oid) { return }
        guard core.config.autoCreate else { throw .notFound("unit \(oid)") }
        core.createItem(oid)
    }

    func completeUnitAction(_ oid: OID, status: Int16, value: MsgPackValue) {
        core.completeUnitAction(oid, status: status, value: value)
    }

    func setItem(_ oid: OID, status: Int16?, value: MsgPackValue?) throws(EAPIError) {
        try core.setItem(oid, status: status, value: value)
    }

    func setVariable(tag: String, value: MsgPackValue) throws(EAPIError) {
        try core.setVariable(tag: tag, value)
    }
}
