/// Service metadata, the answer to `info` and the result of `svc_init`.
public struct ServiceInfo: Sendable {
    public struct Method: Sendable {
        public var name: String
        public var description: String
        /// Parameter name and whether it is required, in the order listed.
        public var params: [(name: String, required: Bool)]

        public init(_ name: String, _ description: String, params: [(name: String, required: Bool)] = []) {
            self.name = name
            self.description = description
            self.params = params
        }
    }

    public var author: String
    public var version: String
    public var description: String
    public var methods: [Method]

    public init(author: String, version: String, description: String, methods: [Method] = []) {
        self.author = author
        self.version = version
        self.description = description
        self.methods = methods
    }

    /// `{author, version, description, methods: {name: {description, params: {p: {required}}}}}`
    public var value: MsgPackValue {
        var methodMap = MsgPackMap()
        for m in methods {
            var params = MsgPackMap()
            for p in m.params { params[p.name] = ["required": .bool(p.required)] }
            methodMap[m.name] = ["description": .string(m.description), "params": .map(params)]
        }
        return [
            "author": .string(author), "version": .string(version),
            "description": .string(description), "methods": .map(methodMap),
        ]
    }
}
