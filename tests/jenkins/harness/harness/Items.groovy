package harness

import hudson.AbortException

/**
 * The `build` step (pipeline-build-step BuildTriggerStepExecution): the job name is resolved with
 * Jenkins.getItem(name, context) relative to the folder of the calling job first ("deploy" from
 * carts/feature is carts/deploy when that exists), a leading "/" makes it absolute, and a name that
 * matches nothing relative is tried as a full name. Jobs that exist: scenario.items.
 */
class Items {
    static Object trigger(Build build, Map args) {
        String name = args.job
        List<String> items = (build.scenario.items ?: []) as List<String>
        String resolved = resolve(build.job, name, items)
        Map<String, Object> parameters = [:]
        ((args.parameters ?: []) as List<Map>).each { parameters[it.name as String] = it.value }
        build.record('build', [job: name, resolved: resolved, parameters: parameters, wait: args.wait != false,
                               propagate: args.propagate != false])
        if (resolved == null) {
            throw new AbortException("No item named ${name} found")
        }
        return [result: 'SUCCESS', fullProjectName: resolved]
    }

    static String resolve(String caller, String name, List<String> items) {
        if (name.startsWith('/')) {
            String full = name.substring(1)
            return items.contains(full) ? full : null
        }
        List<String> parts = caller.tokenize('/')
        List<String> folder = parts.size() > 1 ? parts[0..-2] : []
        List<String> path = new ArrayList<String>(folder)
        name.tokenize('/').each { segment ->
            if (segment == '..') {
                if (path) {
                    path.remove(path.size() - 1)
                }
            } else if (segment != '.') {
                path << segment
            }
        }
        String relative = path.join('/')
        if (items.contains(relative)) {
            return relative
        }
        return items.contains(name) ? name : null
    }
}
