// Entry point of the pipeline harness: groovy -cp tests/jenkins/harness run.groovy SCENARIOS.json OUT.json
// Reads a JSON list of scenarios, plays each build, writes a JSON list of results (see tests/jenkins/pipeline.py).
// A scenario with `chain` also plays every build its `build` steps start (jobs named in chain.jobs), as
// Jenkins would with wait: false, each started by its upstream (an UpstreamCause), in order.
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import harness.Runner

List scenarios = new JsonSlurperClassic().parse(new File(args[0])) as List
List results = []
scenarios.each { Map scenario ->
    List<Map> queue = [scenario]
    int played = 0
    while (queue) {
        Map current = queue.remove(0)
        Map result = Runner.run(current)
        results << result
        played++
        if (scenario.chain && played < (scenario.chain.maxBuilds ?: 40)) {
            result.events.findAll { it.type == 'build' && it.resolved }.each { Map trigger ->
                String file = scenario.chain.jobs[trigger.resolved]
                if (file) {
                    queue << current + [name: "${scenario.name}>${played + queue.size()}:${trigger.resolved}".toString(),
                                        jenkinsfile: file, job: trigger.resolved, branch: null, firstBuild: false,
                                        params: trigger.parameters, script: null, scm: scenario.chain.scm ?: current.scm,
                                        causes: [[_class: 'hudson.model.Cause$UpstreamCause', upstreamProject: current.job,
                                                  upstreamBuild: 1, shortDescription: "Started by upstream project ${current.job}".toString()]],
                                        inputAnswers: (scenario.chain.inputAnswers ?: []).collect { it }]
                }
            }
        }
    }
}
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')
