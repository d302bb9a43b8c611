package harness

import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * The `input` step as pipeline-input-step answers people (InputStepExecution.canSettle and
 * preSubmissionCheck): an empty submitter becomes none, and then anyone with Job/Build may answer;
 * otherwise only the listed users, members of the listed groups, or administrators. Anyone else is
 * refused ("You need to be ... to submit this.") and the input keeps waiting. "Abort" interrupts the
 * build (FlowInterruptedException, ABORTED, a Rejection). With submitterParameter and no parameters
 * the step returns the approver's id. When no answer is left the input waits: an enclosing timeout fires.
 */
class Approvals {
    static Object input(Build build, Map args) {
        String submitter = (args.submitter ?: '').toString().trim() ?: null
        Map event = build.record('input', [message: args.message, submitter: submitter, refused: [], answeredBy: null,
                                           outcome: 'waiting'])
        build.log("${args.message}".toString())
        while (build.answers) {
            Map answer = build.answers.remove(0)
            if (answer.action == 'timeout') {
                break
            }
            if (!canSettle(build, submitter, answer.user as String)) {
                String why = submitter ? "You need to be ${submitter} to submit this." :
                    'You need to have Job/Build permissions to submit this.'
                event.refused << [user: answer.user, message: why]
                continue
            }
            event.answeredBy = answer.user
            if (answer.action == 'abort') {
                event.outcome = 'aborted'
                throw new FlowInterruptedException('ABORTED', ["Rejection by ${answer.user}".toString()])
            }
            event.outcome = 'proceeded'
            return args.submitterParameter ? answer.user : null
        }
        event.outcome = 'timed out'
        build.hang("input '${args.message}'")
        return null
    }

    private static boolean canSettle(Build build, String submitter, String user) {
        List<String> admins = (build.scenario.admins ?: []) as List<String>
        Map users = (build.scenario.users ?: [:]) as Map
        if (submitter == null) {
            return users.containsKey(user) || admins.contains(user)  // every known user may build: Job/Build
        }
        if (admins.contains(user)) {
            return true
        }
        List<String> allowed = submitter.split(',')*.trim()
        return allowed.contains(user) || ((users[user] ?: []) as List).any { allowed.contains(it) }
    }
}
