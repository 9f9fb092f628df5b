//! The one route table of the control plane: for every control verb, its
//! HTTP twins (method and path under `/v1`) and the handler both surfaces
//! call. `control::serve` dispatches `wf.ctl.>` through it and `api::router`
//! builds the `/v1` routes from it, so a verb cannot answer on one surface
//! and not the other by accident, nor differently.
//!
//! A path's `{id}` is the id of the subject for verbs that name one
//! (`run.<id>.cancel` ← `POST /v1/runs/{id}/cancel`), and the request's `id`
//! field for the others (`workflows.get {id}` ← `GET /v1/workflows/{id}`).

use super::{Reply, Request, agents, approvals, runs, workflows};
use crate::driver::Driver;
use futures::future::BoxFuture;
use junction_bus::{ControlSubject, ControlVerb};
use junction_core::wire::control::ControlError;
use runs::RunAction;

/// What answers a verb.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Needs no token, even with auth on, and reads no request
    /// (`cluster.members`, like the health endpoints).
    Open(for<'a> fn(&'a Driver) -> BoxFuture<'a, Reply>),
    /// A verb that names nothing in its subject.
    Plain(for<'a> fn(&'a Driver, &'a Request) -> BoxFuture<'a, Reply>),
    /// A verb whose subject names a run or an approval: the handler gets its id.
    WithId(for<'a> fn(&'a Driver, &'a str, &'a Request) -> BoxFuture<'a, Reply>),
}

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// Whether the call's JSON body is read (`POST`, `PUT`); `GET` and
    /// `DELETE` ignore any body.
    pub fn has_body(self) -> bool {
        matches!(self, Self::Post | Self::Put)
    }
}

/// One HTTP twin of a verb.
#[derive(Debug, Clone, Copy)]
pub struct Http {
    pub method: Method,
    /// An axum path, with `{id}` where it names something.
    pub path: &'static str,
}

impl Http {
    /// Whether the path names something (`{id}`).
    pub fn has_id(&self) -> bool {
        self.path.contains("{id}")
    }
}

/// One row: a verb, its HTTP twins and its handler.
pub struct Route {
    pub verb: ControlVerb,
    pub http: &'static [Http],
    pub handler: Handler,
}

const fn http(method: Method, path: &'static str) -> Http {
    Http { method, path }
}

use Method::{Delete, Get, Post, Put};

/// Every control verb, once.
pub static ROUTES: [Route; 21] = [
    Route {
        verb: ControlVerb::WorkflowsList,
        http: &[http(Get, "/v1/workflows")],
        handler: Handler::Plain(|d, r| Box::pin(workflows::list(d, r))),
    },
    Route {
        verb: ControlVerb::WorkflowsPut,
        http: &[http(Post, "/v1/workflows"), http(Put, "/v1/workflows/{id}")],
        handler: Handler::Plain(|d, r| Box::pin(workflows::put(d, r))),
    },
    Route {
        verb: ControlVerb::WorkflowsValidate,
        http: &[http(Post, "/v1/workflows/validate")],
        handler: Handler::Plain(|d, r| Box::pin(workflows::validate(d, r))),
    },
    Route {
        verb: ControlVerb::WorkflowsGet,
        http: &[http(Get, "/v1/workflows/{id}")],
        handler: Handler::Plain(|d, r| Box::pin(workflows::get(d, r))),
    },
    Route {
        verb: ControlVerb::WorkflowsDelete,
        http: &[http(Delete, "/v1/workflows/{id}")],
        handler: Handler::Plain(|d, r| Box::pin(workflows::delete(d, r))),
    },
    Route {
        verb: ControlVerb::AgentsPut,
        http: &[],
        handler: Handler::Plain(|d, r| Box::pin(agents::put(d, r))),
    },
    Route {
        verb: ControlVerb::AgentsList,
        http: &[],
        handler: Handler::Plain(|d, r| Box::pin(agents::list(d, r))),
    },
    Route {
        verb: ControlVerb::AgentsDelete,
        http: &[],
        handler: Handler::Plain(|d, r| Box::pin(agents::delete(d, r))),
    },
    Route {
        verb: ControlVerb::RunStart,
        http: &[http(Post, "/v1/runs")],
        handler: Handler::Plain(|d, r| Box::pin(runs::start(d, r))),
    },
    Route {
        verb: ControlVerb::RunsList,
        http: &[http(Get, "/v1/runs")],
        handler: Handler::Plain(|d, r| Box::pin(runs::list(d, r))),
    },
    Route {
        verb: ControlVerb::RunGet,
        http: &[http(Get, "/v1/runs/{id}")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::get(d, id, r))),
    },
    Route {
        verb: ControlVerb::RunEvents,
        http: &[http(Get, "/v1/runs/{id}/events")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::events(d, id, r))),
    },
    Route {
        verb: ControlVerb::RunCancel,
        http: &[http(Post, "/v1/runs/{id}/cancel")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::act(d, id, r, RunAction::Cancel))),
    },
    Route {
        verb: ControlVerb::RunPause,
        http: &[http(Post, "/v1/runs/{id}/pause")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::act(d, id, r, RunAction::Pause))),
    },
    Route {
        verb: ControlVerb::RunResume,
        http: &[http(Post, "/v1/runs/{id}/resume")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::act(d, id, r, RunAction::Resume))),
    },
    Route {
        verb: ControlVerb::RunRedrive,
        http: &[http(Post, "/v1/runs/{id}/redrive")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::redrive(d, id, r))),
    },
    Route {
        verb: ControlVerb::RunSignal,
        http: &[http(Post, "/v1/runs/{id}/signal")],
        handler: Handler::WithId(|d, id, r| Box::pin(runs::signal(d, id, r))),
    },
    Route {
        verb: ControlVerb::ApprovalsList,
        http: &[http(Get, "/v1/approvals")],
        handler: Handler::Plain(|d, r| Box::pin(approvals::list(d, r))),
    },
    Route {
        verb: ControlVerb::ApprovalApprove,
        http: &[http(Post, "/v1/approvals/{id}/approve")],
        handler: Handler::WithId(|d, id, r| Box::pin(approvals::decide(d, id, r, true))),
    },
    Route {
        verb: ControlVerb::ApprovalReject,
        http: &[http(Post, "/v1/approvals/{id}/reject")],
        handler: Handler::WithId(|d, id, r| Box::pin(approvals::decide(d, id, r, false))),
    },
    Route {
        verb: ControlVerb::ClusterMembers,
        http: &[],
        handler: Handler::Open(|d| Box::pin(crate::members::list(&d.store))),
    },
];

/// The row of `verb`.
pub fn route(verb: ControlVerb) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.verb == verb)
}

/// `NOT_FOUND` for a subject no verb names (`suffix`: the part after `wf.ctl.`).
pub fn unknown(suffix: impl std::fmt::Display) -> ControlError {
    ControlError::not_found(format!("unknown control subject `wf.ctl.{suffix}`"))
}

/// Answers `subject` with its row's handler (open verbs ignore `request`).
pub async fn dispatch(driver: &Driver, subject: &ControlSubject, request: &Request) -> Reply {
    let row = route(subject.verb()).ok_or_else(|| unknown(subject))?;
    match (row.handler, subject.id()) {
        (Handler::Open(handler), _) => handler(driver).await,
        (Handler::Plain(handler), None) => handler(driver, request).await,
        (Handler::WithId(handler), Some(id)) => handler(driver, id, request).await,
        (Handler::Plain(_) | Handler::WithId(_), _) => Err(ControlError::internal(format!(
            "the route of `{subject}` does not match its subject"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_verb_has_one_row_whose_handler_fits_its_subject() {
        for verb in ControlVerb::ALL {
            let rows = ROUTES.iter().filter(|r| r.verb == verb).count();
            assert_eq!(rows, 1, "{verb:?}");
        }
        for row in &ROUTES {
            let fits = match row.handler {
                Handler::Open(_) => row.http.is_empty(),
                Handler::Plain(_) => !row.verb.takes_id(),
                Handler::WithId(_) => row.verb.takes_id(),
            };
            assert!(fits, "{:?}", row.verb);
            for http in row.http {
                // A verb that names an id gets it from the path.
                assert!(!row.verb.takes_id() || http.has_id(), "{}", http.path);
            }
        }
    }

    #[test]
    fn no_two_rows_share_a_method_and_path() {
        let mut seen = HashSet::new();
        for http in ROUTES.iter().flat_map(|r| r.http) {
            assert!(seen.insert((http.method, http.path)), "{}", http.path);
        }
    }
}
