//! `/templates`: conference templates, kept, changed and started.

use super::*;

#[derive(Deserialize)]
pub(super) struct TidPath {
    tid: String,
}

pub(super) fn tid(p: &TidPath) -> Result<i64, ServerError> {
    p.tid
        .parse()
        .map_err(|_| ServerError::NotFound(format!("no template {}", p.tid)))
}

pub(super) fn template_json(t: &crate::conference::template::Template) -> Value {
    json!({"id": t.id, "name": t.name, "settings": patch_json(&t.settings)})
}

pub(super) async fn templates(State(server): State<Server>, Auth(_who): Auth) -> Response {
    axum::Json(
        json!({"templates": server.templates().iter().map(template_json).collect::<Vec<_>>()}),
    )
    .into_response()
}

pub(super) fn template_input(
    v: &Value,
    need_name: bool,
) -> Result<(Option<String>, Option<crate::conference::Patch>), ServerError> {
    let Value::Object(o) = v else {
        return Err(ServerError::invalid(
            "body",
            "a JSON object with name and settings",
        ));
    };
    let mut errs = Vec::new();
    for k in o.keys() {
        if k != "name" && k != "settings" {
            errs.push(FieldError::new(
                k.as_str(),
                "unknown field; templates take name and settings",
            ));
        }
    }
    let name = match o.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.push(FieldError::new("name", "a string"));
            None
        }
        None if need_name => {
            errs.push(FieldError::new("name", "required"));
            None
        }
        None => None,
    };
    let settings = match o.get("settings") {
        Some(s) => match parse_patch(s) {
            Ok(p) => Some(p),
            Err(e) => {
                errs.extend(
                    e.into_iter()
                        .map(|f| FieldError::new(format!("settings.{}", f.field), f.message)),
                );
                None
            }
        },
        None => None,
    };
    if errs.is_empty() {
        Ok((name, settings))
    } else {
        Err(ServerError::Invalid(errs))
    }
}

pub(super) async fn create_template(
    State(server): State<Server>,
    Auth(who): Auth,
    body: Bytes,
) -> Result<Response, ServerError> {
    admin(&who)?;
    let v = json_body(&body)?;
    let (name, settings) = template_input(&v, true)?;
    let t = server
        .save_template(None, name.unwrap_or_default(), settings.unwrap_or_default())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"template": template_json(&t)})),
    )
        .into_response())
}

pub(super) async fn get_template(
    State(server): State<Server>,
    Auth(_who): Auth,
    Path(p): Path<TidPath>,
) -> Result<Response, ServerError> {
    let id = tid(&p)?;
    let t = server
        .templates()
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("no template {id}")))?;
    Ok(axum::Json(json!({"template": template_json(&t)})).into_response())
}

pub(super) async fn update_template(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<TidPath>,
    body: Bytes,
) -> Result<Response, ServerError> {
    admin(&who)?;
    let id = tid(&p)?;
    let current = server
        .templates()
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("no template {id}")))?;
    let v = json_body(&body)?;
    let (name, settings) = template_input(&v, false)?;
    let t = server
        .save_template(
            Some(id),
            name.unwrap_or(current.name),
            settings.unwrap_or(current.settings),
        )
        .await?;
    Ok(axum::Json(json!({"template": template_json(&t)})).into_response())
}

pub(super) async fn delete_template(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<TidPath>,
) -> Result<Response, ServerError> {
    admin(&who)?;
    server.delete_template(tid(&p)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn start_template(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<TidPath>,
) -> Result<Response, ServerError> {
    let c = server.start_template(&who, tid(&p)?).await?;
    let Links(b, _) = links;
    Ok(axum::Json(json!({"conference": conference_json(&c, &b)})).into_response())
}

// ---- the rest --------------------------------------------------------------------------
