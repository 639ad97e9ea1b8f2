/**
 * Every error SafeSteer reports on bad input: a stable code, and a message that names the problem
 * and the fix. Each layer has its own subclass and code list; callers catch SafeSteerError.
 */
export class SafeSteerError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}
