/**
 * approval: asks a person with `input` whether a WARNING may be promoted. Who may answer and how long
 * the question waits are the controller's settings (casc.yaml: PIPELINE_STEPS_APPROVERS,
 * PIPELINE_STEPS_APPROVAL_TIMEOUT_MINUTES), never a build parameter, so whoever starts a build cannot
 * choose who approves it. Fails closed: no approvers configured, a timeout that is not a whole number
 * of minutes, the timeout passing, or "Abort" all answer 'reject'. The input step itself refuses anyone
 * outside the approvers ("You need to be ... to submit this."). Call it outside `node`/agent so the
 * wait holds no executor. Returns [answer: 'approve' | 'reject', by: user id or '', reason].
 */
Map call(Map args = [:]) {
    // Only the controller's settings: no argument may choose who approves (a Jenkinsfile could pass a parameter).
    String approvers = (env.PIPELINE_STEPS_APPROVERS ?: '').trim()
    String minutesText = "${env.PIPELINE_STEPS_APPROVAL_TIMEOUT_MINUTES ?: '60'}".trim()
    if (!approvers) {
        return refuse('no approvers are configured on the controller (PIPELINE_STEPS_APPROVERS); nobody may approve')
    }
    if (!(minutesText ==~ /[1-9][0-9]{0,4}/)) {
        return refuse("PIPELINE_STEPS_APPROVAL_TIMEOUT_MINUTES=${minutesText} is not a whole number of minutes")
    }
    try {
        String by = ''
        timeout(time: minutesText as int, unit: 'MINUTES') {
            by = input(message: args.message ?: 'Promote this version?', ok: 'Promote', submitter: approvers,
                submitterParameter: 'APPROVER')
        }
        echo "approved by ${by}"
        return [answer: 'approve', by: by ?: '', reason: 'approved']
    } catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException refused) {
        return refuse('approval not given (refused, aborted or timed out)')
    }
}

Map refuse(String reason) {
    echo "approval: ${reason}: rejecting"
    return [answer: 'reject', by: '', reason: reason]
}
