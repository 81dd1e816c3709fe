/**
 * The online help of tcpservd: the original's text, extended with the
 * commands this version adds.
 */

/** The reply to `help`, with the server's version filled in. */
export function helpText(version: string): string {
  return [
    `Wellcome to tcpservd ${version} online help`,
    "----------------------------",
    "getstatus  :\tSend request to tcpservd.",
    "           :\tIf tcpservd is in Bad Status: return BAD",
    "           :\tIf tcpservd is in Good Status: return GOOD",
    "           :\t",
    "version    :\tGet the tcpservd server version",
    "hostname   :\tGet the hostname where tcpservd run",
    "setbad     :\tPut tcpservd in setbad  STATE (bad state)",
    "setgood    :\tPut tcpservd in setgood STATE (normal)",
    "startloop  :\tStart a loop for performance tests (startloop [SECONDS], default 5)",
    "quit       :\texit tcpservd client",
    "fault SPEC :\tInject a fault, e.g. fault delay ms=200 p=0.5 seed=7 on=new|current",
    "fault list :\tShow the faults in force",
    "fault clear:\tRemove every fault",
    "setdrain   :\tHAProxy agent (--agent-port): ask for no new connections",
    "setready   :\tHAProxy agent: take new connections again (undoes setdrain)",
    "setweight  :\tHAProxy agent: weight PERCENT of the configured one (setweight 50)",
    "setmaxconn :\tHAProxy agent: the server's maxconn (setmaxconn 10; 0 no limit)",
    "agentstatus:\tThe line the HAProxy agent answers now",
    "",
  ].join("\n");
}
