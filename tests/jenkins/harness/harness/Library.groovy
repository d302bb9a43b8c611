package harness

/**
 * A Shared Library as pipeline-groovy-lib loads it: vars/NAME.groovy is a global variable, one instance
 * per build (its `call` is the step, its other methods are NAME.method(...)); src/ is on the class path.
 * Here the library is this repository at the tree under test (scenario.libraryRoot).
 */
class Library {
    final Build build
    final GroovyShell shell
    final File root
    final Set<String> loaded = [] as Set
    final Map<String, Object> instances = [:]

    Library(Build build, GroovyShell shell, File root) {
        this.build = build
        this.shell = shell
        this.root = root
    }

    void load(String name) {
        loaded << name
    }

    Object variable(String name) {
        if (!loaded || root == null) {
            return null
        }
        File source = new File(root, "vars/${name}.groovy")
        if (!source.isFile()) {
            return null
        }
        if (!instances.containsKey(name)) {
            PipelineScript script = (PipelineScript) Runner.instance(shell, source.getText('UTF-8'), name)
            script.setState(build)
            script.setLib(this)
            instances[name] = script
        }
        return instances[name]
    }
}
