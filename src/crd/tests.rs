use super::*;
use kube::CustomResourceExt;
use strum::IntoEnumIterator;

#[test]
fn crd_has_names_columns_and_status_subresource() {
    let crd = S3Connection::crd();
    assert_eq!(crd.spec.group, GROUP);
    assert_eq!(crd.spec.names.plural, "s3connections");
    assert_eq!(crd.spec.names.short_names, Some(vec!["s3c".to_string()]));
    let v = &crd.spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    assert!(v.subresources.as_ref().unwrap().status.is_some());
    let cols = |priority: i32| -> Vec<String> {
        v.additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .filter(|c| c.priority.unwrap_or(0) == priority)
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(
        cols(0),
        [
            "Bucket",
            "Region",
            "Auth",
            "Ready",
            "Reason",
            "Suspended",
            "Since",
            "Age"
        ]
    );
    // `-o wide` adds these.
    assert_eq!(cols(1), ["Endpoint", "Identity", "Requests/Day", "Message"]);
    assert_eq!(crd.spec.names.categories, Some(vec!["s3".to_string()]));
}

#[test]
fn every_spec_field_has_a_description() {
    let crd = serde_json::to_value(S3Connection::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                let path = format!("{path}.{k}");
                if p.get("description").is_none() {
                    missing.push(path.clone());
                }
                walk(&path, p, missing);
            }
        }
    }
    let mut missing = vec![];
    walk("spec", spec, &mut missing);
    assert!(
        missing.is_empty(),
        "fields without description: {missing:?}"
    );
}

#[test]
fn conditions_are_a_list_map_keyed_by_type() {
    let crd = serde_json::to_value(S3Connection::crd()).unwrap();
    let status = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(
        status["properties"]["conditions"]["x-kubernetes-list-type"],
        "map"
    );
    assert_eq!(
        status["properties"]["conditions"]["x-kubernetes-list-map-keys"][0],
        "type"
    );
}

#[test]
fn permission_names_round_trip() {
    for p in Permission::iter() {
        assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        assert!(p.as_str().starts_with("s3:"));
    }
    assert!("s3:Nope".parse::<Permission>().is_err());
}

#[test]
fn auth_kind_needs_exactly_one_method() {
    let ak = AccessKeyAuth {
        secret_name: "s".into(),
        access_key_id_key: None,
        secret_access_key_key: None,
        session_token_key: None,
    };
    let role = |sa: Option<&str>| IamRoleAuth {
        role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
        service_account_name: sa.map(Into::into),
        session_name: None,
    };
    let auth = |a: Option<AccessKeyAuth>, r: Option<IamRoleAuth>| Auth {
        access_key: a.map(Box::new),
        iam_role: r.map(Box::new),
    };
    assert_eq!(
        auth(Some(ak.clone()), None).kind(),
        Some(AuthKind::AccessKey)
    );
    assert_eq!(
        auth(None, Some(role(Some("sa")))).kind(),
        Some(AuthKind::Irsa)
    );
    assert_eq!(
        auth(None, Some(role(None))).kind(),
        Some(AuthKind::OperatorRole)
    );
    assert_eq!(auth(Some(ak), Some(role(None))).kind(), None);
    assert_eq!(auth(None, None).kind(), None);
    assert_eq!(AuthKind::Irsa.as_str(), "IRSA");
}
