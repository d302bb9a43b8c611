// Entry point of the pipeline harness: groovy -cp tests/jenkins/harness run.groovy SCENARIOS.json OUT.json
// Reads a JSON list of scenarios, plays each build, writes a JSON list of results (see tests/jenkins/pipeline.py).
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import harness.Runner

List scenarios = new JsonSlurper().parse(new File(args[0])) as List
List results = scenarios.collect { Map scenario -> Runner.run(scenario) }
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')
