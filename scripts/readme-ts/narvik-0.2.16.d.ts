// The public types of the TypeScript library Narvik 0.2.16 that the
// README's callbacks use, written from its source and documentation, for
// scripts/check-readme-ts.sh when the package itself cannot be installed.
// Keep it to what 0.2.16 declares: a wider type here would let a README
// block pass that fails against the real package.
declare module "narvik" {
    /** Extra session fields, added by declaration merging. */
    export interface AdditionalSessionData {}

    export interface Session extends AdditionalSessionData {
        id: string;
        userId: string;
        expiresAt: Date;
        new?: boolean;
        extended?: boolean;
    }

    export interface NarvikDataConfiguration {
        saveSession: (session: Session) => Promise<void>;
        fetchSession: (sessionId: string) => Promise<Session | null>;
        updateSessionExpiry: (sessionId: string, updateExpiresAt: Date) => Promise<void>;
        deleteSession: (sessionId: string) => Promise<void>;
        fetchSessionsForUser?: (userId: string) => Promise<Session[]>;
        deleteSessionsForUser?: (userId: string) => Promise<void>;
        deleteAllExpiredSessions?: () => Promise<void>;
    }

    export interface NarvikSessionConfiguration {
        sessionExpiresInMs?: number;
    }

    export interface NarvikCookieAttributesConfiguration {
        secure?: boolean;
        domain?: string;
        path?: string;
        sameSite?: "lax" | "strict" | "none";
    }

    export interface NarvikCookieConfiguration {
        name?: string;
        cookieExpiresInMs?: number;
        attributes?: NarvikCookieAttributesConfiguration;
    }

    export interface NarvikConfiguration {
        data: NarvikDataConfiguration;
        session?: NarvikSessionConfiguration;
        cookie?: NarvikCookieConfiguration;
    }

    export interface CookieAttributes {
        httpOnly?: boolean;
        secure?: boolean;
        domain?: string;
        path?: string;
        sameSite?: "none" | "lax" | "strict";
        maxAge?: number;
    }

    export class Cookie {
        name: string;
        value: string;
        attributes: CookieAttributes;
        constructor(name: string, value: string, attributes: CookieAttributes);
        serialize(): string;
    }

    export interface CreateSessionResult {
        token: string;
        session: Session;
    }

    export class Narvik {
        readonly cookieName: string;
        constructor(config: NarvikConfiguration);
        createSession(userId: string, additionalData?: AdditionalSessionData): Promise<CreateSessionResult>;
        validateSession(token: string): Promise<Session | null>;
        invalidateSession(sessionId: string): Promise<void>;
        fetchSessionsForUser(userId: string): Promise<Session[]>;
        deleteSessionsForUser(userId: string): Promise<void>;
        deleteAllExpiredSessions(): Promise<void>;
        createCookie(sessionToken: string): Cookie;
        createBlankCookie(): Cookie;
    }
}
