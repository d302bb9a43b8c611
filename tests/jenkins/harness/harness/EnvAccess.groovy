package harness

/**
 * The `env` global: reads see the whole environment a step would see; `env.X = v` sets a build-level
 * variable (workflow-cps EnvActionImpl), which cannot override a build parameter of the same name.
 */
class EnvAccess {
    private final Build build

    EnvAccess(Build build) {
        this.build = build
    }

    @Override
    Object getProperty(String name) {
        if (name == 'environment') {
            return build.environment()
        }
        return build.environment()[name]
    }

    @Override
    void setProperty(String name, Object value) {
        build.record('envSet', [name: name])
        build.envAssigned[name] = value == null ? null : "${value}".toString()
    }

    String getAt(String name) {
        return build.environment()[name]
    }
}
