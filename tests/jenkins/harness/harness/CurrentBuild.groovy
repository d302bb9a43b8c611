package harness

/**
 * The `currentBuild` global (workflow-support RunWrapper): result (only ever worse, Run.setResult),
 * description, number, getBuildCauses (a list of cause maps with `_class`, as RunWrapper serialises
 * them), buildVariables (what `env.X =` set) and nextBuild (newer builds of the same job, from
 * scenario.newerBuilds).
 */
class CurrentBuild {
    private final Build build
    private final Map other

    CurrentBuild(Build build, Map other = null) {
        this.build = build
        this.other = other
    }

    String getResult() {
        return other != null ? other.result : build.result
    }

    void setResult(String value) {
        build.record('setResult', [result: value])
        build.worsen(value)
    }

    String getCurrentResult() {
        return other != null ? (other.result ?: 'SUCCESS') : build.resultOrSuccess
    }

    void setDescription(String value) {
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
        return build.job
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
        List<Map> newer = (build.scenario.newerBuilds ?: []) as List<Map>
        if (other == null) {
            return newer ? new CurrentBuild(build, newer[0]) : null
        }
        int at = newer.indexOf(other)
        return at + 1 < newer.size() ? new CurrentBuild(build, newer[at + 1]) : null
    }

    boolean resultIsBetterOrEqualTo(String other) {
        return Build.RESULTS.indexOf(currentResult) <= Build.RESULTS.indexOf(other)
    }

    boolean resultIsWorseOrEqualTo(String other) {
        return Build.RESULTS.indexOf(currentResult) >= Build.RESULTS.indexOf(other)
    }
}
