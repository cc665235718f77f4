/**
 * The admin portal's login state: checking an existing session on load, logged out (with the
 * reason, e.g. an expired session), or logged in.
 *
 * @module
 */
import { signal } from "@preact/signals";
import { ApiError } from "../api_client.ts";
import type { AdminApi } from "./admin_api.ts";

export type AuthPhase = "checking" | "out" | "in";

export class AuthState {
  readonly phase = signal<AuthPhase>("checking");
  /** Why the login form is shown (wrong password, session expired, ...), or null. */
  readonly message = signal<string | null>(null);
  readonly busy = signal(false);
  readonly expiresAt = signal<number | null>(null);
  readonly #api: AdminApi;

  constructor(api: AdminApi) {
    this.#api = api;
  }

  /** Looks for an existing session (e.g. after a reload). */
  async check(): Promise<void> {
    try {
      const s = await this.#api.session();
      this.expiresAt.value = s?.expires_at ?? null;
      this.phase.value = s ? "in" : "out";
    } catch (err) {
      this.phase.value = "out";
      this.message.value = err instanceof Error ? err.message : String(err);
    }
  }

  async login(password: string): Promise<boolean> {
    if (this.busy.peek()) return false;
    this.busy.value = true;
    this.message.value = null;
    try {
      const s = await this.#api.login(password);
      this.expiresAt.value = s.expires_at;
      this.phase.value = "in";
      return true;
    } catch (err) {
      this.message.value = err instanceof ApiError && err.code === "invalid_request"
        ? "Enter the admin password."
        : err instanceof Error
        ? err.message
        : String(err);
      return false;
    } finally {
      this.busy.value = false;
    }
  }

  async logout(): Promise<void> {
    try {
      await this.#api.logout();
    } catch {
      // Logged out locally either way; the session expires on the hub.
    }
    this.phase.value = "out";
    this.message.value = "You are logged out.";
  }

  /** Any admin call answered 401: the session is gone. */
  expired(): void {
    if (this.phase.peek() !== "in") return;
    this.phase.value = "out";
    this.message.value = "Your session has ended. Please log in again.";
  }
}
