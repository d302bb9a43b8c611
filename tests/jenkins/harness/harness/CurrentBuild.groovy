package harness

/**
 * The `currentBuild` global (workflow-support RunWrapper): result (only ever worse, Run.setResult),
 * description, number, getBuildCauses (a list of cause maps with `_class`, as RunWrapper serialises
 * them), buildVariables (what `env.X =` set; for another build its EnvironmentAction overrides),
 * nextBuild (newer builds of the same job, from scenario.newerBuilds) and upstreamBuilds (RunWrapper
 * getUpstreamBuilds: the build that started this one, then recursively the builds that started that one,
 * from scenario.upstreamBuilds, each with its own `newerBuilds`).
 */
class CurrentBuild {
    private final Build build
    private final Map other
    private final List<Map> newer

    CurrentBuild(Build build, Map other = null, List<Map> newer = null) {
        this.build = build
        this.other = other
        this.newer = newer != null ? newer : (build.scenario.newerBuilds ?: []) as List<Map>
    }

    String getResult() {
        return other != null ? other.result : build.result
    }

    void setResult(String value) {
        if (other != null) {
            throw new SecurityException('can only set the result property on the current build')
        }
        build.record('setResult', [result: value])
        build.worsen(value)
    }

    String getCurrentResult() {
        return other != null ? (other.result ?: 'SUCCESS') : build.resultOrSuccess
    }

    void setDescription(String value) {
        if (other != null) {
            throw new SecurityException('can only set the description property on the current build')
        }
        build.description = value
        build.record('description', [description: value])
    }

    String getDescription() {
        return other != null ? other.description : build.description
    }

    int getNumber() {
        return other != null ? other.number as int : (build.scenario.buildNumber ?: 1) as int
    }

    String getFullProjectName() {
        return other != null && other.fullProjectName ? other.fullProjectName : build.job
    }

    Map<String, String> getBuildVariables() {
        return other != null ? (other.buildVariables ?: [:]) as Map<String, String> : new LinkedHashMap(build.envAssigned)
    }

    List<Map> getBuildCauses(String className = null) {
        List<Map> causes = (build.scenario.causes ?: []) as List<Map>
        build.record('getBuildCauses', [className: className])
        return className ? causes.findAll { it._class == className } : causes
    }

    CurrentBuild getNextBuild() {
        int at = other == null ? -1 : newer.indexOf(other)
        return at + 1 < newer.size() ? new CurrentBuild(build, newer[at + 1], newer) : null
    }

    /** RunWrapper.getUpstreamBuilds: wrappers of other builds (setResult and setDescription refuse them). */
    List<CurrentBuild> getUpstreamBuilds() {
        List<Map> upstream = other != null ? [] : (build.scenario.upstreamBuilds ?: []) as List<Map>
        build.record('getUpstreamBuilds', [projects: upstream.collect { it.fullProjectName }])
        return upstream.collect { Map run -> new CurrentBuild(build, run, (run.newerBuilds ?: []) as List<Map>) }
    }

    boolean resultIsBetterOrEqualTo(String other) {
        return Build.RESULTS.indexOf(currentResult) <= Build.RESULTS.indexOf(other)
    }

    boolean resultIsWorseOrEqualTo(String other) {
        return Build.RESULTS.indexOf(currentResult) >= Build.RESULTS.indexOf(other)
    }
}
