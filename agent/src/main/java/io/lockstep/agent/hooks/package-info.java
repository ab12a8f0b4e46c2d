/**
 * Application hooks around a checkpoint's cut (docs/DESIGN.md, "Application hooks"): a command or
 * a signal per process before any host freezes, and a notification with the outcome after the thaw.
 */
package io.lockstep.agent.hooks;
