package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.ElementType
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target

/**
 * Stands in for pipeline-groovy-lib's @Library, so a Jenkinsfile with `@Library('pipeline-steps') _`
 * compiles; the harness loads vars/ itself when it sees the annotation in the text.
 */
@Retention(RetentionPolicy.SOURCE)
@Target([ElementType.LOCAL_VARIABLE, ElementType.FIELD, ElementType.TYPE, ElementType.METHOD])
@interface Library {
    String[] value()
    boolean changelog() default true
}
