// SafeSteer's per-user cache folder: $SAFESTEER_CACHE, else $XDG_CACHE_HOME/safesteer, else the
// platform's cache folder (~/.cache, ~/Library/Caches or %LOCALAPPDATA%) + /safesteer.
import { homedir } from "node:os";
import { join } from "node:path";

export function userCacheDir(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform, home = homedir()): string {
  if (env.SAFESTEER_CACHE) return env.SAFESTEER_CACHE;
  const base =
    env.XDG_CACHE_HOME ||
    (platform === "win32"
      ? (env.LOCALAPPDATA ?? join(home, "AppData", "Local"))
      : platform === "darwin"
        ? join(home, "Library", "Caches")
        : join(home, ".cache"));
  return join(base, "safesteer");
}
