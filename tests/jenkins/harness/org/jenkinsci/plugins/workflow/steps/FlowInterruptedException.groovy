package org.jenkinsci.plugins.workflow.steps

/**
 * Stands in for workflow-step-api's FlowInterruptedException: what an interrupted step throws (a timeout
 * that fired, an input answered "Abort", a build aborted by a person or by a newer build).
 * Jenkinsfiles catch it by this name, so the harness defines it under the same package.
 */
class FlowInterruptedException extends InterruptedException {
    /** The build result it carries (Jenkins: hudson.model.Result), e.g. ABORTED. */
    final String result
    /** Why: the CauseOfInterruption names (ExceededTimeout, Rejection by a user, ...). */
    final List<String> causes

    FlowInterruptedException(String result, List<String> causes) {
        super(causes.join('; '))
        this.result = result
        this.causes = causes
    }
}
